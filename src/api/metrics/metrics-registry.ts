import type { Queue } from 'bullmq';
import { Counter, Gauge, Registry, type Metric } from 'prom-client';
import type { BreakerState } from '../../processors/login-circuit-breaker.js';
import type { PoolStatus } from '../../browser/pool/pool-api.js';
import type { Db } from '../../db/database.js';
import { providerStates, waitingJobCounts } from '../../db/provider-store.js';
import type { ProviderCalendar } from '../../processors/provider-calendar.js';
import { activeBatchTotals, batchCounts, batchDurations, batchErrorCounts, deliveryCounts, jobCounts, jobDurations, jobsDueBefore, oldestWaitingAges } from '../../db/metrics-store.js';
import { BATCH_STATUSES, JOB_ACTIONS, JOB_STATUSES } from '../../db/schema.js';
import type { Logger } from '../../logger.js';
import type { TotpStats } from '../../totp/totp-counters.js';
import type { BatchSizeView } from '../../queues/batch-sizer.js';
import { DurationHistogram } from './duration-histogram.js';

/** Where the figures come from; each optional source that is missing or down just leaves its metrics out. */
export interface MetricsSources {
  db: Db;
  /** Every queue to report depths for (QueueRegistry.all()). */
  queues?: () => Queue[];
  totp?: { stats(day?: string): Promise<TotpStats> };
  pool?: { status(): Promise<PoolStatus> };
  /** Login circuit breakers (read from Valkey), reported per provider. */
  breakers?: { state(provider: string): Promise<BreakerState> };
  /** The batch size of each provider and the portal pace it was chosen from (read from Valkey). */
  batchSizes?: () => Promise<Record<string, BatchSizeView>>;
  /**
   * The configured providers. Their series are reported even at 0, so that a rule comparing a
   * figure with its value some minutes ago sees the first failed job, refused code or failed
   * callback (a series that appears with its first sample has no earlier value to compare with).
   */
  providers?: { name: string; needsTotp: boolean; maxSessions?: number }[];
  /** Windows and pace: which providers are closed, and how long their queues take (jobs at risk). */
  calendar?: Pick<ProviderCalendar, 'state' | 'expectedWaitMs'>;
  logger: Logger;
  /** How long one source may take before it counts as down for this scrape (default 5 s). */
  sourceTimeoutMs?: number;
}

/** Job and batch durations (seconds): a browser job takes seconds, a batch minutes. */
export const JOB_DURATION_BUCKETS = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600];
export const BATCH_DURATION_BUCKETS = [5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600];

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'failed', 'completed'] as const;
const CALLBACK_STATES = ['pending', 'delivered', 'failed', 'refused'] as const;
const TOTP_EVENTS = ['generated', 'consumed', 'accepted', 'refused'] as const;
/** Batch error codes the alerting rules watch (k8s/components/monitoring): reported at 0 too. */
export const WATCHED_BATCH_ERRORS = ['LOGIN_REFUSED', 'TOTP_REFUSED', 'TOO_MANY_SESSIONS', 'BROWSER_POOL_EXHAUSTED', 'BROWSER_GONE'] as const;
const ACTIVE_BATCH_STATUSES = ['created', 'assigned', 'in_progress'] as const;
/** Batch errors that count as a refused login in rpa_logins{outcome="refused"}. */
const REFUSED_LOGIN_CODES = ['LOGIN_REFUSED', 'TOTP_REFUSED', 'TOO_MANY_SESSIONS'] as const;

/**
 * A Prometheus registry whose figures are read at scrape time from where the truth lives:
 * Postgres (jobs, batches, logins, callback deliveries, durations), BullMQ (queue depths),
 * the TOTP manager's daily counters and the browser pool's status. So `/metrics` says what the
 * database says, survives restarts, and agrees across API replicas. Labels carry providers,
 * actions, statuses and queue names only: never a circuit number, a key or a secret.
 */
export interface Metrics {
  registry: Registry;
  /** Reads every source, then renders the Prometheus text format. */
  scrape(): Promise<string>;
}

export function createMetrics(sources: MetricsSources): Metrics {
  const registry = new Registry();
  const { db } = sources;
  const up = new Gauge({ name: 'rpa_metrics_source_up', help: 'Whether a metrics source answered this scrape (postgres, valkey, totp, browser_pool)', labelNames: ['source'], registers: [registry] });
  const timeoutMs = sources.sourceTimeoutMs ?? 5_000;
  /** Reads one source; when it fails or is late its metrics are left out, not reported half-read. */
  const guard = async (source: string, owned: Array<{ reset(): void }>, read: () => Promise<void>) => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      timer.unref();
    });
    try {
      await Promise.race([read(), late]);
      up.set({ source }, 1);
    } catch (err) {
      up.set({ source }, 0);
      for (const metric of owned) metric.reset();
      sources.logger.warn({ err, source }, 'metrics source did not answer');
    } finally {
      clearTimeout(timer);
    }
  };

  const jobs = new Gauge({ name: 'rpa_jobs', help: 'Jobs in Postgres by provider, action and status', labelNames: ['provider', 'action', 'status'], registers: [registry] });
  const batches = new Gauge({ name: 'rpa_batches', help: 'Batches in Postgres by provider and status', labelNames: ['provider', 'status'], registers: [registry] });
  // Counts of rows, not counters: retention purges old rows, so these go down too (gauges).
  const batchesCreated = new Gauge({ name: 'rpa_batches_created', help: 'Batches created, as rows in Postgres (retention purges lower it)', labelNames: ['provider'], registers: [registry] });
  const batchesCompleted = new Gauge({ name: 'rpa_batches_completed', help: 'Batches that ran to their end (status completed), as rows in Postgres', labelNames: ['provider'], registers: [registry] });
  const logins = new Gauge({
    name: 'rpa_logins',
    help: 'Portal logins by provider and outcome, from batches in Postgres: succeeded = sum of batches.login_count, refused = batches that ended on a refused login or TOTP',
    labelNames: ['provider', 'outcome'],
    registers: [registry],
  });
  const batchErrors = new Gauge({ name: 'rpa_batch_errors', help: 'Batches in Postgres whose run recorded an error, by provider and error code', labelNames: ['provider', 'code'], registers: [registry] });
  const activeBatchJobs = new Gauge({
    name: 'rpa_active_batch_jobs',
    help: 'Jobs of the batches not yet ended (created, assigned, in_progress) by provider: state size = members, completed, failed, returned (handed back)',
    labelNames: ['provider', 'state'],
    registers: [registry],
  });
  const oldestWaiting = new Gauge({
    name: 'rpa_oldest_waiting_job_age_seconds',
    help: 'Seconds the oldest pending job of a provider has been due (now - available_at); 0 when none waits',
    labelNames: ['provider'],
    registers: [registry],
  });
  const providerPaused = new Gauge({
    name: 'rpa_provider_paused',
    help: 'Whether a provider is paused until an operator resumes it (1), by reason: login_refused, config_invalid, contract_drift, operator; 0 with reason "none" when it runs',
    labelNames: ['provider', 'reason'],
    registers: [registry],
  });
  const batchSize = new Gauge({ name: 'rpa_batch_size', help: 'The most jobs a batch of the provider takes now: BATCH_SIZE, or fewer when its sessions were seen to expire sooner', labelNames: ['provider'], registers: [registry] });
  const sessionPace = new Gauge({
    name: 'rpa_portal_session_seconds_per_job',
    help: 'Measured time a session of the provider spends per job, its pages working at once (smoothed over batches)',
    labelNames: ['provider'],
    registers: [registry],
  });
  const sessionLife = new Gauge({ name: 'rpa_portal_session_lifetime_seconds', help: 'Shortest recent lifetime of a provider session before the portal ended it (+Inf while none was seen to end: the shortest of none)', labelNames: ['provider'], registers: [registry] });
  const providerClosed = new Gauge({
    name: 'rpa_provider_closed',
    help: 'Whether a provider is closed now (1) by reason: maintenance (a window), outside_business_hours; 0 with reason "none" when open',
    labelNames: ['provider', 'reason'],
    registers: [registry],
  });
  const contractMismatches = new Gauge({
    name: 'rpa_provider_contract_mismatches',
    help: 'PAGE_CONTRACT_MISMATCH answers of a provider in a row (at its threshold it is paused for contract_drift)',
    labelNames: ['provider'],
    registers: [registry],
  });
  const jobsAtRisk = new Gauge({
    name: 'rpa_jobs_at_risk',
    help: 'Pending jobs whose deadline falls within their provider\'s expected wait (windows, the queue ahead, a login): likely to end DEADLINE_EXCEEDED',
    labelNames: ['provider'],
    registers: [registry],
  });
  const breakerOpen = new Gauge({ name: 'rpa_login_circuit_breaker_open', help: 'Whether the login circuit breaker of a provider is open (its batches paused), 0 or 1', labelNames: ['provider'], registers: [registry] });
  const callbacks = new Gauge({ name: 'rpa_callback_deliveries', help: 'Callback deliveries by state (pending, delivered, failed, refused)', labelNames: ['state'], registers: [registry] });
  const callbackAttempts = new Gauge({ name: 'rpa_callback_delivery_attempts', help: 'HTTP attempts made for the callback deliveries in Postgres, by their current state', labelNames: ['state'], registers: [registry] });
  const queueDepth = new Gauge({ name: 'rpa_queue_jobs', help: 'BullMQ jobs per queue and state', labelNames: ['queue', 'state'], registers: [registry] });
  const totpCodes = new Gauge({ name: 'rpa_totp_codes_today', help: 'TOTP codes today (UTC) by provider and event: generated, consumed, accepted, refused', labelNames: ['provider', 'event'], registers: [registry] });
  const totpSuccess = new Gauge({ name: 'rpa_totp_success_ratio_today', help: 'Accepted / (accepted + refused) TOTP codes today (UTC)', labelNames: ['provider'], registers: [registry] });
  const poolSize = new Gauge({ name: 'rpa_browser_pool_browsers', help: 'Browsers of the pool by state', labelNames: ['state'], registers: [registry] });
  const poolConfigured = new Gauge({ name: 'rpa_browser_pool_size', help: 'Configured number of browsers', registers: [registry] });
  const poolBusy = new Gauge({ name: 'rpa_browser_pool_busy_contexts', help: 'Browser contexts leased to workers', registers: [registry] });
  const poolOpen = new Gauge({ name: 'rpa_browser_pool_open_contexts', help: 'Browser contexts open in Chromium', registers: [registry] });
  // The pool's own counts since it started: they only grow, and start again at 0 when the pool
  // restarts, which is a counter reset as Prometheus understands it.
  const poolRestarts = new Counter({ name: 'rpa_browser_pool_restarts_total', help: 'Browsers relaunched after a crash or a hang (since the pool started)', registers: [registry] });
  const poolRetired = new Counter({ name: 'rpa_browser_pool_retired_total', help: 'Browsers retired (since the pool started)', registers: [registry] });
  const jobDuration = new DurationHistogram({
    name: 'rpa_job_duration_seconds',
    help: 'From start to end of finished jobs (last attempt), by provider, action and status',
    buckets: JOB_DURATION_BUCKETS,
    load: (buckets) => jobDurations(db, buckets),
  });
  const batchDuration = new DurationHistogram({
    name: 'rpa_batch_duration_seconds',
    help: 'From start to end of finished batches, by provider and status',
    buckets: BATCH_DURATION_BUCKETS,
    load: (buckets) => batchDurations(db, buckets),
  });

  // Every scrape reads each source once; a source that is down leaves its metrics empty.
  const refresh = async () => {
    for (const g of [jobs, batches, batchesCreated, batchesCompleted, logins, batchErrors, activeBatchJobs, oldestWaiting, providerPaused, providerClosed, contractMismatches, jobsAtRisk, breakerOpen, batchSize, sessionPace, sessionLife, callbacks, callbackAttempts, queueDepth, totpCodes, totpSuccess, poolSize, poolConfigured, poolBusy, poolOpen, poolRestarts, poolRetired]) g.reset();
    const providers = sources.providers ?? [];
    await Promise.all([
      guard('postgres', [jobs, batches, batchesCreated, batchesCompleted, logins, batchErrors, activeBatchJobs, oldestWaiting, providerPaused, providerClosed, contractMismatches, jobsAtRisk, callbacks, callbackAttempts, jobDuration, batchDuration], async () => {
        for (const { name: provider } of providers) {
          for (const action of JOB_ACTIONS) for (const status of JOB_STATUSES) jobs.set({ provider, action, status }, 0);
          for (const status of BATCH_STATUSES) batches.set({ provider, status }, 0);
          for (const code of WATCHED_BATCH_ERRORS) batchErrors.set({ provider, code }, 0);
          for (const state of ['size', 'completed', 'failed', 'returned']) activeBatchJobs.set({ provider, state }, 0);
          oldestWaiting.set({ provider }, 0);
        }
        for (const state of CALLBACK_STATES) {
          callbacks.set({ state }, 0);
          callbackAttempts.set({ state }, 0);
        }
        const stateRows = await providerStates(db);
        const paused = new Map(stateRows.filter((r) => r.paused_reason).map((r) => [r.provider, r.paused_reason!]));
        const streaks = new Map(stateRows.map((r) => [r.provider, r.contract_mismatches]));
        const waitingNow = await waitingJobCounts(db);
        for (const { name: provider, maxSessions } of providers) {
          providerPaused.set({ provider, reason: paused.get(provider) ?? 'none' }, paused.has(provider) ? 1 : 0);
          contractMismatches.set({ provider }, streaks.get(provider) ?? 0);
          if (!sources.calendar) continue;
          const window = await sources.calendar.state(provider);
          providerClosed.set({ provider, reason: window.open ? 'none' : window.reason }, window.open ? 0 : 1);
          const waitMs = await sources.calendar.expectedWaitMs(provider, waitingNow.get(provider) ?? 0, maxSessions ?? 1);
          jobsAtRisk.set({ provider }, await jobsDueBefore(db, provider, new Date(Date.now() + waitMs)));
        }
        const jobRows = await jobCounts(db);
        for (const r of jobRows) jobs.set({ provider: r.provider, action: r.action, status: r.status }, r.n);
        const batchRows = await batchCounts(db, REFUSED_LOGIN_CODES);
        const perProvider = new Map<string, { created: number; completed: number; logins: number; refused: number }>(providers.map((p) => [p.name, { created: 0, completed: 0, logins: 0, refused: 0 }]));
        for (const r of batchRows) {
          batches.set({ provider: r.provider, status: r.status }, r.n);
          const p = perProvider.get(r.provider) ?? { created: 0, completed: 0, logins: 0, refused: 0 };
          p.created += r.n;
          if (r.status === 'completed') p.completed += r.n;
          p.logins += r.logins;
          p.refused += r.refused;
          perProvider.set(r.provider, p);
        }
        for (const [provider, p] of perProvider) {
          batchesCreated.set({ provider }, p.created);
          batchesCompleted.set({ provider }, p.completed);
          logins.set({ provider, outcome: 'succeeded' }, p.logins);
          logins.set({ provider, outcome: 'refused' }, p.refused);
        }
        const errorRows = await batchErrorCounts(db);
        for (const r of errorRows) batchErrors.set({ provider: r.provider, code: r.code }, r.n);
        const active = await activeBatchTotals(db, ACTIVE_BATCH_STATUSES);
        for (const r of active) for (const state of ['size', 'completed', 'failed', 'returned'] as const) activeBatchJobs.set({ provider: r.provider, state }, r[state]);
        const waiting = await oldestWaitingAges(db);
        for (const r of waiting) oldestWaiting.set({ provider: r.provider }, Math.max(0, r.age));
        const deliveries = await deliveryCounts(db);
        for (const d of deliveries) {
          callbacks.set({ state: d.state }, d.n);
          callbackAttempts.set({ state: d.state }, d.attempts);
        }
        await Promise.all([jobDuration.refresh(), batchDuration.refresh()]);
      }),
      sources.queues &&
        guard('valkey', [queueDepth, breakerOpen, batchSize, sessionPace, sessionLife], async () => {
          const queues = sources.queues!();
          const counts = await Promise.all(queues.map((q) => q.getJobCounts(...QUEUE_STATES)));
          queues.forEach((q, i) => {
            for (const state of QUEUE_STATES) queueDepth.set({ queue: q.name, state }, counts[i]![state] ?? 0);
          });
          if (sources.breakers) {
            const states = await Promise.all(providers.map((p) => sources.breakers!.state(p.name)));
            for (const b of states) breakerOpen.set({ provider: b.provider }, b.open ? 1 : 0);
          }
          if (sources.batchSizes) {
            for (const [provider, view] of Object.entries(await sources.batchSizes())) {
              batchSize.set({ provider }, view.size);
              if (view.session_ms_per_job !== null) sessionPace.set({ provider }, view.session_ms_per_job / 1000);
              sessionLife.set({ provider }, view.session_life_ms === null ? Infinity : view.session_life_ms / 1000);
            }
          }
        }),
      sources.totp &&
        guard('totp', [totpCodes, totpSuccess], async () => {
          const stats = await sources.totp!.stats();
          for (const p of providers.filter((q) => q.needsTotp)) for (const event of TOTP_EVENTS) totpCodes.set({ provider: p.name, event }, 0);
          for (const [provider, c] of Object.entries(stats)) {
            for (const [event, n] of Object.entries(c)) totpCodes.set({ provider, event }, n);
            const decided = c.accepted + c.refused;
            if (decided > 0) totpSuccess.set({ provider }, c.accepted / decided);
          }
        }),
      sources.pool &&
        guard('browser_pool', [poolSize, poolConfigured, poolBusy, poolOpen, poolRestarts, poolRetired], async () => {
          const status = await sources.pool!.status();
          for (const [state, n] of Object.entries(status.browsers)) poolSize.set({ state }, n);
          poolConfigured.set(status.size);
          poolBusy.set(status.busyContexts);
          poolOpen.set(status.openContexts);
          poolRestarts.inc(status.restarts);
          poolRetired.inc(status.retired);
        }),
    ]);
  };
  registry.registerMetric(jobDuration as unknown as Metric);
  registry.registerMetric(batchDuration as unknown as Metric);
  return {
    registry,
    scrape: async () => {
      await refresh();
      return registry.metrics();
    },
  };
}
