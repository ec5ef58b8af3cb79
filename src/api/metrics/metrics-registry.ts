import type { Queue } from 'bullmq';
import { sql } from 'kysely';
import { Gauge, Registry, type Metric } from 'prom-client';
import type { PoolStatus } from '../../browser/pool/pool-api.js';
import type { Db } from '../../db/database.js';
import type { Logger } from '../../logger.js';
import type { TotpStats } from '../../totp/totp-counters.js';
import { DurationHistogram } from './duration-histogram.js';

/** Where the figures come from; each optional source that is missing or down just leaves its metrics out. */
export interface MetricsSources {
  db: Db;
  /** Every queue to report depths for (QueueRegistry.all()). */
  queues?: () => Queue[];
  totp?: { stats(day?: string): Promise<TotpStats> };
  pool?: { status(): Promise<PoolStatus> };
  logger: Logger;
}

/** Job and batch durations (seconds): a browser job takes seconds, a batch minutes. */
export const JOB_DURATION_BUCKETS = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600];
export const BATCH_DURATION_BUCKETS = [5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600];

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'failed', 'completed'] as const;

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
  const guard = async (source: string, read: () => Promise<void>) => {
    try {
      await read();
      up.set({ source }, 1);
    } catch (err) {
      up.set({ source }, 0);
      sources.logger.warn({ err, source }, 'metrics source did not answer');
    }
  };

  const jobs = new Gauge({ name: 'rpa_jobs', help: 'Jobs in Postgres by provider, action and status', labelNames: ['provider', 'action', 'status'], registers: [registry] });
  const batches = new Gauge({ name: 'rpa_batches', help: 'Batches in Postgres by provider and status', labelNames: ['provider', 'status'], registers: [registry] });
  const batchesCreated = new Gauge({ name: 'rpa_batches_created_total', help: 'Batches created (rows in Postgres, so retention purges lower it)', labelNames: ['provider'], registers: [registry] });
  const batchesCompleted = new Gauge({ name: 'rpa_batches_completed_total', help: 'Batches that ran to their end (status completed)', labelNames: ['provider'], registers: [registry] });
  const logins = new Gauge({
    name: 'rpa_logins_total',
    help: 'Portal logins by provider and outcome: succeeded = sum of batches.login_count, refused = batches that ended on a refused login or TOTP',
    labelNames: ['provider', 'outcome'],
    registers: [registry],
  });
  const callbacks = new Gauge({ name: 'rpa_callback_deliveries', help: 'Callback deliveries by state (pending, delivered, failed, refused)', labelNames: ['state'], registers: [registry] });
  const callbackAttempts = new Gauge({ name: 'rpa_callback_delivery_attempts_total', help: 'HTTP attempts made for callback deliveries, by their current state', labelNames: ['state'], registers: [registry] });
  const queueDepth = new Gauge({ name: 'rpa_queue_jobs', help: 'BullMQ jobs per queue and state', labelNames: ['queue', 'state'], registers: [registry] });
  const totpCodes = new Gauge({ name: 'rpa_totp_codes_today', help: 'TOTP codes today (UTC) by provider and event: generated, consumed, accepted, refused', labelNames: ['provider', 'event'], registers: [registry] });
  const totpSuccess = new Gauge({ name: 'rpa_totp_success_ratio_today', help: 'Accepted / (accepted + refused) TOTP codes today (UTC)', labelNames: ['provider'], registers: [registry] });
  const poolSize = new Gauge({ name: 'rpa_browser_pool_browsers', help: 'Browsers of the pool by state', labelNames: ['state'], registers: [registry] });
  const poolConfigured = new Gauge({ name: 'rpa_browser_pool_size', help: 'Configured number of browsers', registers: [registry] });
  const poolBusy = new Gauge({ name: 'rpa_browser_pool_busy_contexts', help: 'Browser contexts leased to workers', registers: [registry] });
  const poolOpen = new Gauge({ name: 'rpa_browser_pool_open_contexts', help: 'Browser contexts open in Chromium', registers: [registry] });
  const poolRestarts = new Gauge({ name: 'rpa_browser_pool_restarts_total', help: 'Browsers relaunched after a crash or a hang (since the pool started)', registers: [registry] });
  const poolRetired = new Gauge({ name: 'rpa_browser_pool_retired_total', help: 'Browsers retired (since the pool started)', registers: [registry] });
  const jobDuration = new DurationHistogram({
    name: 'rpa_job_duration_seconds',
    help: 'From start to end of finished jobs (last attempt), by provider, action and status',
    buckets: JOB_DURATION_BUCKETS,
    labelNames: ['provider', 'action', 'status'],
    query: sql`SELECT provider, action, status, extract(epoch FROM completed_at - started_at)::float8 AS seconds FROM jobs WHERE status IN ('completed', 'failed') AND started_at IS NOT NULL AND completed_at IS NOT NULL`,
  });
  const batchDuration = new DurationHistogram({
    name: 'rpa_batch_duration_seconds',
    help: 'From start to end of finished batches, by provider and status',
    buckets: BATCH_DURATION_BUCKETS,
    labelNames: ['provider', 'status'],
    query: sql`SELECT provider, status, extract(epoch FROM finished_at - started_at)::float8 AS seconds FROM batches WHERE status IN ('completed', 'failed') AND started_at IS NOT NULL AND finished_at IS NOT NULL`,
  });

  // Every scrape reads each source once; a source that is down leaves its metrics empty.
  const refresh = async () => {
    for (const g of [jobs, batches, batchesCreated, batchesCompleted, logins, callbacks, callbackAttempts, queueDepth, totpCodes, totpSuccess, poolSize, poolConfigured, poolBusy, poolOpen, poolRestarts, poolRetired]) g.reset();
    await Promise.all([
      guard('postgres', async () => {
        const jobRows = await db.selectFrom('jobs').select(['provider', 'action', 'status', sql<number>`count(*)::int`.as('n')]).groupBy(['provider', 'action', 'status']).execute();
        for (const r of jobRows) jobs.set({ provider: r.provider, action: r.action, status: r.status }, r.n);
        const batchRows = await db
          .selectFrom('batches')
          .select([
            'provider',
            'status',
            sql<number>`count(*)::int`.as('n'),
            sql<number>`coalesce(sum(login_count), 0)::int`.as('logins'),
            sql<number>`count(*) FILTER (WHERE error->>'code' IN ('LOGIN_REFUSED', 'TOTP_REFUSED', 'TOO_MANY_SESSIONS'))::int`.as('refused'),
          ])
          .groupBy(['provider', 'status'])
          .execute();
        const perProvider = new Map<string, { created: number; completed: number; logins: number; refused: number }>();
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
        const deliveries = await db.selectFrom('callback_deliveries').select(['state', sql<number>`count(*)::int`.as('n'), sql<number>`coalesce(sum(attempts), 0)::int`.as('attempts')]).groupBy('state').execute();
        for (const d of deliveries) {
          callbacks.set({ state: d.state }, d.n);
          callbackAttempts.set({ state: d.state }, d.attempts);
        }
        await Promise.all([jobDuration.refresh(db), batchDuration.refresh(db)]);
      }),
      sources.queues &&
        guard('valkey', async () => {
          const queues = sources.queues!();
          const counts = await Promise.all(queues.map((q) => q.getJobCounts(...QUEUE_STATES)));
          queues.forEach((q, i) => {
            for (const state of QUEUE_STATES) queueDepth.set({ queue: q.name, state }, counts[i]![state] ?? 0);
          });
        }),
      sources.totp &&
        guard('totp', async () => {
          const stats = await sources.totp!.stats();
          for (const [provider, c] of Object.entries(stats)) {
            for (const [event, n] of Object.entries(c)) totpCodes.set({ provider, event }, n);
            const decided = c.accepted + c.refused;
            if (decided > 0) totpSuccess.set({ provider }, c.accepted / decided);
          }
        }),
      sources.pool &&
        guard('browser_pool', async () => {
          const status = await sources.pool!.status();
          for (const [state, n] of Object.entries(status.browsers)) poolSize.set({ state }, n);
          poolConfigured.set(status.size);
          poolBusy.set(status.busyContexts);
          poolOpen.set(status.openContexts);
          poolRestarts.set(status.restarts);
          poolRetired.set(status.retired);
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
