import type { BrowserSource } from '../browser/browser-source.js';
import type { ProviderConfig } from '../config/config.js';
import type { Credentials } from '../config/live-settings.js';
import { findBatch, recordBatchError } from '../db/batch-store.js';
import type { Db } from '../db/database.js';
import { recordSubmit, settleSubmit, submitsOf } from '../db/intent-store.js';
import { higherPriorityWaiting, type JobRow } from '../db/job-store.js';
import { JOB_PRIORITIES, jobPriority } from '../db/schema.js';
import { addBatchLogins, claimBatchRun, markBatchStarted, finishJob, heartbeatRun, returnJobs, startJob, unfinishedMembers, type RunHold } from '../db/job-transitions.js';
import { backoffMs } from '../errors/backoff.js';
import { coerceError } from '../errors/coerce-error.js';
import { isEvidenceItems } from '../evidence/evidence-item.js';
import type { EvidenceRecorder } from '../evidence/evidence-recorder.js';
import { RpaError, isRpaError } from '../errors/failures.js';
import type { Logger } from '../logger.js';
import type { CancellationResult, ProviderAutomation, SubmitHooks } from '../providers/provider.js';
import { queueLabel, type EnqueueItem } from '../queues/job-enqueuer.js';
import type { PortalPaceStore } from '../queues/portal-pace.js';
import type { TotpManager } from '../totp/totp-manager.js';
import { BatchSession } from './batch-session.js';
import type { ContractDrift } from './contract-drift.js';
import type { LoginCircuitBreaker } from './login-circuit-breaker.js';
import { runOnPages } from './page-scheduler.js';
import type { ProviderCalendar } from './provider-calendar.js';
import type { ProviderPauses } from './provider-pauses.js';

export interface BatchRunnerDeps {
  db: Db;
  providers: Readonly<Record<string, ProviderConfig>>;
  /** Base URL of each provider's portal (Runtime.portalUrls). */
  portalUrls: Readonly<Record<string, string>>;
  automationFor: (provider: string) => ProviderAutomation;
  /** Where contexts are leased: the pools in the directory, or the fixed BROWSER_POOL_URL (PoolLeaseSource). */
  pool: BrowserSource;
  totp: TotpManager;
  /** The cool-down after a login failed for a passing reason (portal down, too many sessions). */
  breaker: LoginCircuitBreaker;
  /** Providers paused until an operator (or new credentials) resumes them. */
  pauses: ProviderPauses;
  /** A provider's account as it is now. */
  credentials: (config: ProviderConfig) => Credentials;
  /** Uploads screenshots and failure records to the evidence store as they are taken. */
  evidence: EvidenceRecorder;
  /** Puts jobs handed back on their provider queue. */
  enqueue: (items: EnqueueItem[]) => Promise<void>;
  /** Told of every job that ended (its callback is due). */
  jobsEnded: (jobIds: string[]) => Promise<void>;
  logger: Logger;
  /** Who runs the batch (host:pid), shown in GET /batches/active. */
  workerName: string;
  /** Backoff base before a job that failed for a passing reason is tried again (JOB_RETRY_BASE_MS). */
  retryBaseMs: number;
  /** How often the run tells Postgres it is alive, and learns whether it still holds its batch. */
  heartbeatMs?: number;
  /** Counts page-contract mismatches and pauses a provider whose portal changed. */
  drift: ContractDrift;
  /** Maintenance windows and business hours: whether (and how much of) a batch may start. */
  calendar: ProviderCalendar;
  /** Reads the provider's probe page before the batch's jobs (BATCH_CANARY). */
  canaryAtStart: boolean;
  /** How long a higher-priority job waits for a free session before a running batch makes way for it. */
  preemptAfterMs?: number;
  /** Where what a run saw of its portal goes (pace, login time, session lifetimes), for the batchers' sizing. */
  paces?: PortalPaceStore;
}

export interface BatchRunSummary {
  batchId: string;
  completed: number;
  failed: number;
  returned: number;
  logins: number;
  skipped?: 'finished' | 'empty' | 'paused' | 'closed' | 'superseded';
  loginError?: { code: string; message: string };
  /** Where the run's time went (ms): to a logged-in session (lease, TOTP step, login), of which waiting for TOTP steps, then the jobs. */
  timings?: { toSessionMs: number; totpWaitMs: number; jobsMs: number; pages: number };
}

export interface BatchProgress {
  done: number;
  total: number;
  /** Logins so far (one, unless the session was lost or a browser died). */
  logins: number;
}

/** How long a job whose circuit another job is working on waits before it is tried again. */
const CIRCUIT_BUSY_WAIT_MS = 3_000;

type JobOutcome = 'completed' | 'failed' | 'returned' | 'skipped' | 'login-lost' | 'drift-paused';

/** Why a batch stops before its next job, and when the jobs it hands back may run. */
interface Stop {
  cause: string;
  availableAt: Date;
}

/**
 * Runs one batch: one leased browser context, one login, then the unfinished jobs, up to the
 * provider's `<P>_PAGES_PER_SESSION` at once on pages of that one session (never two of one
 * circuit at once; page-scheduler.ts). Before each job a page takes, the batch may stop
 * (stopBefore: a pause, a window, a higher priority waiting); then no page takes another job, and
 * once every page has finished its own the jobs not started are handed back. Each job's end is
 * written the moment it ends, under the run's hold on the batch (its fencing token): a run that
 * lost its batch (its worker was frozen, or cut off from Valkey, and the batch went to another)
 * stops at its next step and touches nothing. Safe to run again after a crash: finished jobs are
 * skipped, a job found running counts an attempt and starts over, and a cancellation reads the
 * circuit's state before it submits anything.
 */
export class BatchRunner {
  constructor(private readonly deps: BatchRunnerDeps) {}

  async run(batchId: string, onProgress?: (progress: BatchProgress) => Promise<void>): Promise<BatchRunSummary> {
    const { db, breaker, pauses } = this.deps;
    const summary: BatchRunSummary = { batchId, completed: 0, failed: 0, returned: 0, logins: 0 };
    const batch = await findBatch(db, batchId);
    if (!batch || batch.status === 'completed' || batch.status === 'failed') return { ...summary, skipped: 'finished' };
    const provider = batch.provider;
    const log = this.deps.logger.child({ batch_id: batchId, provider });
    let members = await unfinishedMembers(db, batchId);
    if (members.length === 0) return { ...summary, skipped: 'empty' };
    const config = this.deps.providers[provider];
    if (!config) throw new RpaError('CONFIG_INVALID', `batch ${batchId}: unknown provider ${provider}`);

    // Not started until it passes the checks below: a batch handed back unrun never started.
    const hold = await claimBatchRun(db, batchId, this.deps.workerName, { stampStart: false });
    if (!hold) return { ...summary, skipped: 'finished' };
    const pause = await pauses.pausedFor(config);
    const breakerState = await breaker.state(provider);
    if (pause || breakerState.open) {
      // A paused provider's batcher takes nothing from its queue: its jobs wait there, ready for the resume.
      const until = pause ? new Date() : new Date(breakerState.openUntil);
      summary.returned += await this.handBack(hold, members, until, pause ? `provider paused (${pause.reason})` : 'provider paused by its login circuit breaker');
      return { ...summary, skipped: 'paused' };
    }
    const pages = Math.min(config.pagesPerSession, members.length);
    const fit = await this.deps.calendar.fit(provider, members.length, pages);
    if (fit.kind === 'none') {
      summary.returned += await this.handBack(hold, members, fit.opensAt, `provider closed: ${fit.reason}; the jobs wait until ${fit.opensAt.toISOString()}`);
      log.info({ opens_at: fit.opensAt.toISOString(), reason: fit.reason }, 'batch not started: the provider is closed, or closes before it could finish');
      return { ...summary, skipped: 'closed' };
    }
    if (fit.kind === 'some') {
      const cause = `the batch could not finish before the provider closes at ${fit.closesAt.toISOString()}; these jobs wait until ${fit.opensAt.toISOString()}`;
      summary.returned += await this.handBack(hold, members.slice(fit.jobs), fit.opensAt, cause);
      log.info({ runs: fit.jobs, waits: members.length - fit.jobs, closes_at: fit.closesAt.toISOString() }, 'batch shortened to what finishes before the provider closes');
      members = members.slice(0, fit.jobs);
    }

    await markBatchStarted(db, hold);
    const heartbeat = this.keepAlive(hold, log);
    const total = batch.size;
    let done = total - members.length;
    const started = Date.now();
    const session = new BatchSession({
      provider: config,
      portalUrl: this.deps.portalUrls[provider],
      credentials: () => this.deps.credentials(config),
      automation: this.deps.automationFor(provider),
      browsers: this.deps.pool,
      totp: this.deps.totp,
      evidence: this.deps.evidence,
      batchId,
      logger: log,
      onSessionLost: (aliveMs) => {
        log.info({ alive_ms: aliveMs }, 'the portal ended the session; measured for the batch size');
        this.deps.paces?.recordExpiry(provider, aliveMs).catch((err: unknown) => log.debug({ err }, 'session lifetime not recorded'));
      },
    });
    let loggedInAt = started;
    try {
      try {
        await session.open();
        loggedInAt = Date.now();
        await breaker.recordSuccess(provider);
        await pauses.loginSucceeded(config);
      } catch (thrown) {
        const error = coerceError(thrown);
        summary.loginError = { code: error.code, message: error.message };
        await recordBatchError(db, batchId, summary.loginError);
        await this.loginFailed(config, error);
        summary.returned += await this.handBack(hold, members, this.retryAt(1), `login failed: ${error.code}`, error);
        log.warn({ err: error.toJSON() }, "login failed; the batch's jobs wait for a later batch");
        return summary;
      }
      if (this.deps.canaryAtStart && (await this.canaryDrifted(session, config, batchId, log))) {
        summary.returned += await this.handBack(hold, members, new Date(), 'provider paused (contract_drift): the canary page did not match');
        return { ...summary, skipped: 'paused' };
      }

      // Jobs whose re-login failed mid-batch, and jobs taken by a page but not started because the
      // batch stopped first: with the jobs not taken yet they are handed back once every page has
      // stopped (a job still on a page is never handed back under it).
      const loginLost: JobRow[] = [];
      const loginLoss = { counted: false };
      const untouched: JobRow[] = [];
      let stop: Stop | undefined;
      let taken = 0;
      const schedule = await runOnPages(members, {
        lanes: pages,
        circuitOf: (member) => member.circuit_number,
        // In hand when an earlier run of this batch died: if it is what killed the child, it must
        // not take other jobs with it again (each would count an attempt), so it runs alone.
        alone: (member) => member.status === 'running',
        run: async (member, lane, rest) => {
          heartbeat.check();
          // The first job follows the checks the batch just passed; every later one is checked.
          if (taken++ > 0) {
            const found = stop ?? (await this.stopBefore(config, [member, ...rest], batchId));
            if (found) {
              stop ??= found;
              untouched.push(member);
              return 'stop';
            }
          }
          const outcome = await this.runJob(session, member, hold, log, lane, loginLoss);
          if (outcome === 'login-lost') {
            loginLost.push(member);
            return 'stop';
          }
          if (outcome === 'drift-paused') {
            // The job itself went back with its attempt given back; the rest wait for the resume.
            summary.returned += 1;
            summary.skipped = 'paused';
            stop ??= { cause: 'provider paused (contract_drift)', availableAt: new Date() };
            return 'stop';
          }
          if (outcome !== 'skipped') summary[outcome] += 1;
          done += 1;
          await onProgress?.({ done, total, logins: session.logins }).catch(() => undefined);
          return 'next';
        },
      });
      if (schedule.error !== undefined) throw schedule.error;
      const ran = summary.completed + summary.failed;
      summary.timings = { toSessionMs: loggedInAt - started, totpWaitMs: session.totpWaitMs, jobsMs: Date.now() - loggedInAt, pages };
      if (ran > 0) {
        await this.deps.paces
          ?.recordBatch(provider, { jobs: ran, busyMs: summary.timings.jobsMs, loginMs: summary.timings.toSessionMs - session.totpWaitMs })
          .catch((err: unknown) => log.debug({ err }, 'portal pace not recorded'));
      }
      const rest = [...untouched, ...schedule.notStarted];
      if (loginLost.length > 0) {
        summary.returned += await this.handBack(hold, stop ? loginLost : [...loginLost, ...rest], this.retryAt(1), 'login lost mid-batch');
      }
      if (stop && rest.length > 0) {
        summary.returned += await this.handBack(hold, rest, stop.availableAt, stop.cause);
        log.info({ handed_back: rest.length, cause: stop.cause }, 'batch stopped before its next job');
      }
    } catch (thrown) {
      if (!isRpaError(thrown, 'RUN_SUPERSEDED')) throw thrown;
      log.warn({ err: thrown.message }, 'another run holds this batch now; this run stops without touching anything more');
      return { ...summary, skipped: 'superseded' };
    } finally {
      heartbeat.stop();
      summary.logins = session.logins;
      await session.close();
      await addBatchLogins(db, batchId, summary.logins).catch((err: unknown) => log.warn({ err: coerceError(err).toJSON() }, 'could not record the batch\'s logins'));
    }
    log.info({ ...summary, duration_ms: Date.now() - started }, 'batch run finished');
    return summary;
  }

  /**
   * The canary: the provider's probe page, read before any job. True when it did not match
   * (the provider is paused now). Any other failure is left to the jobs, which meet it too.
   */
  private async canaryDrifted(session: BatchSession, config: ProviderConfig, batchId: string, log: Logger): Promise<boolean> {
    try {
      await session.checkContract();
      await this.deps.drift.matched(config.descriptor.name);
      return false;
    } catch (thrown) {
      const error = coerceError(thrown);
      if (error.code === 'RUN_SUPERSEDED' || error.scope === 'batch') throw error;
      if (error.code !== 'PAGE_CONTRACT_MISMATCH') {
        log.warn({ err: error.toJSON() }, 'the canary read failed; the jobs run and meet what it met');
        return false;
      }
      return this.deps.drift.mismatch(config.descriptor.name, config.driftThreshold, error, { batchId, canary: true });
    }
  }

  /**
   * Whether the batch stops before its next job: the provider was paused (by another run, an
   * operator), a window closed it, or jobs of a higher priority than all that is left have waited
   * for a session longer than `preemptAfterMs` (this batch makes way; what it hands back runs after them).
   */
  private async stopBefore(config: ProviderConfig, rest: JobRow[], batchId: string): Promise<Stop | undefined> {
    const provider = config.descriptor.name;
    const pause = await this.deps.pauses.pausedFor(config);
    if (pause) return { cause: `provider paused (${pause.reason})`, availableAt: new Date() };
    const state = await this.deps.calendar.state(provider);
    if (!state.open) return { cause: `provider closed (${state.reason}) until ${state.until.toISOString()}`, availableAt: state.until };
    const best = JOB_PRIORITIES.find((p) => rest.some((job) => jobPriority(job.parameters) === p)) ?? 'normal';
    const since = new Date(Date.now() - (this.deps.preemptAfterMs ?? 10_000));
    if (await higherPriorityWaiting(this.deps.db, provider, best, batchId, since)) {
      return { cause: `making way for ${provider} jobs of a higher priority than ${best}`, availableAt: new Date() };
    }
    return undefined;
  }

  /**
   * One job on the page of `lane`. A failed re-login is counted towards the provider's breaker
   * or pause once per batch (`loginLoss`): the pages that waited for that re-login share its
   * failure, and one refusal must not count as several.
   */
  private async runJob(session: BatchSession, member: JobRow, hold: RunHold, batchLog: Logger, lane = 0, loginLoss = { counted: false }): Promise<JobOutcome> {
    const { db } = this.deps;
    const start = await startJob(db, member.id, hold, this.deps.workerName);
    if (start.kind === 'gone') return 'skipped';
    if (start.kind === 'circuit-busy') {
      const returned = await returnJobs(db, hold.batchId, [member.id], {
        availableAt: new Date(Date.now() + CIRCUIT_BUSY_WAIT_MS),
        cause: 'another job is working on this circuit; this one waits for it',
        actor: this.deps.workerName,
        hold,
      });
      await this.deps.enqueue(returned.map((r) => ({ id: r.id, provider: member.provider, trip: r.trip, availableAt: new Date(Date.now() + CIRCUIT_BUSY_WAIT_MS), label: queueLabel(member) })));
      return 'returned';
    }
    if (start.kind === 'expired') {
      await this.deps.jobsEnded([member.id]);
      batchLog.warn({ job_id: member.id, deadline: member.parameters.deadline }, 'job failed: its deadline passed before it could start (DEADLINE_EXCEEDED)');
      return 'failed';
    }
    if (start.kind === 'exhausted') {
      await this.deps.jobsEnded([member.id]);
      batchLog.warn({ job_id: member.id, attempts: start.job.attempts }, 'job failed: its processor died with it in hand every time (PROCESSOR_CRASHED)');
      return 'failed';
    }
    const job = start.job;
    const log = batchLog.child({ job_id: job.id, attempt: job.attempts, ...(lane > 0 ? { lane } : {}) });
    const startedAt = Date.now();
    try {
      const plan = job.action === 'cancellation' ? await this.cancellationPlan(job, hold, start.resumed, log) : undefined;
      const outcome = await session.perform(job, plan?.hooks, lane);
      const result = plan ? plan.reconcile(outcome.result as CancellationResult) : outcome.result;
      const ended = await finishJob(db, job.id, hold, { status: 'completed', result: result as unknown as Record<string, unknown>, evidence: outcome.evidence, cause: 'completed' }, this.deps.workerName);
      if (ended) await this.deps.jobsEnded([job.id]);
      await this.deps.drift.matched(job.provider);
      log.info({ duration_ms: Date.now() - startedAt, attempt_of: `${job.attempts} of ${job.max_attempts}` }, 'job completed');
      return 'completed';
    } catch (thrown) {
      const error = coerceError(thrown);
      // Another run holds the batch, or our own infrastructure is out (Postgres, Valkey, the
      // pool): the job is not at fault and stays as it is; the run stops (and is put off).
      if (error.code === 'RUN_SUPERSEDED' || error.scope === 'batch') throw error;
      const evidence = isEvidenceItems(error.details?.evidence) ? error.details.evidence : [];
      const jobError = { code: error.code, message: error.message };
      if (error.scope === 'login') {
        if (!loginLoss.counted) {
          loginLoss.counted = true;
          await this.loginFailed(this.deps.providers[job.provider]!, error);
          log.warn({ err: error.toJSON() }, 're-login failed mid-batch');
        }
        return 'login-lost';
      }
      if (error.code === 'PAGE_CONTRACT_MISMATCH') {
        const config = this.deps.providers[job.provider]!;
        if (await this.deps.drift.mismatch(job.provider, config.driftThreshold, error, { batchId: hold.batchId, jobId: job.id })) {
          // The portal changed, not the job: it waits for the resume with its attempt given back.
          const returned = await returnJobs(db, hold.batchId, [job.id], {
            availableAt: new Date(),
            cause: 'PAGE_CONTRACT_MISMATCH: the provider is paused for contract drift; the job waits for its resume',
            actor: this.deps.workerName,
            error: jobError,
            evidence,
            hold,
            refundAttempt: true,
          });
          await this.deps.enqueue(returned.map((r) => ({ id: r.id, provider: job.provider, trip: r.trip, label: queueLabel(job) })));
          return 'drift-paused';
        }
      }
      // A mismatch below the threshold may be this job's page alone: it is tried again like a passing failure.
      if ((error.retryable || error.code === 'PAGE_CONTRACT_MISMATCH') && job.attempts < job.max_attempts) {
        const availableAt = this.retryAt(job.attempts);
        const returned = await returnJobs(db, hold.batchId, [job.id], {
          availableAt,
          cause: `${error.code}: retry ${job.attempts + 1} of ${job.max_attempts} later`,
          actor: this.deps.workerName,
          error: jobError,
          evidence,
          hold,
        });
        await this.deps.enqueue(returned.map((r) => ({ id: r.id, provider: job.provider, trip: r.trip, availableAt, label: queueLabel(job) })));
        log.warn({ err: error.toJSON(), attempt_of: `${job.attempts} of ${job.max_attempts}` }, 'job failed for a passing reason; it returns to a later batch');
        return 'returned';
      }
      const ended = await finishJob(db, job.id, hold, { status: 'failed', error: jobError, evidence, cause: error.code }, this.deps.workerName);
      if (ended) await this.deps.jobsEnded([job.id]);
      log.warn({ err: error.toJSON(), attempt_of: `${job.attempts} of ${job.max_attempts}`, duration_ms: Date.now() - startedAt }, 'job failed');
      return 'failed';
    }
  }

  /**
   * The intent log of a cancellation: each submit is recorded, under the run's hold, the moment
   * before the form is sent, and settled when its outcome is known. A run that lost its batch
   * fails the record and sends nothing. An earlier run's submit of this very job means a circuit
   * found cancelled was cancelled by this job, not before it.
   */
  private async cancellationPlan(job: JobRow, hold: RunHold, resumed: boolean, log: Logger): Promise<{ hooks: SubmitHooks; reconcile(result: CancellationResult): CancellationResult }> {
    const earlier = (await submitsOf(this.deps.db, job.id)).filter((i) => i.state !== 'dry_run');
    if (earlier.length > 0 || resumed) {
      log.warn({ earlier_submits: earlier.map((i) => i.state) }, 'an earlier run may have submitted this cancellation; the portal is read before anything is submitted');
    }
    const reconcile = (result: CancellationResult): CancellationResult =>
      result.already_cancelled && earlier.length > 0 ? { ...result, already_cancelled: false, reference: result.reference ?? earlier.findLast((i) => i.reference)?.reference ?? null } : result;
    let intent: string | undefined;
    const hooks: SubmitHooks = {
      beforeSubmit: async () => {
        if (job.parameters.dry_run) {
          await recordSubmit(this.deps.db, job, hold, 'dry_run');
          return 'dry-run';
        }
        intent = await recordSubmit(this.deps.db, job, hold);
        return 'submit';
      },
      afterSubmit: async (outcome, reference) => {
        if (!intent) return;
        const state = outcome === 'confirmed' ? 'confirmed' : outcome === 'unclear' ? 'unclear' : 'resolved';
        await settleSubmit(this.deps.db, intent, state, outcome, reference);
      },
    };
    return { hooks, reconcile };
  }

  /** A refused login counts towards pausing the provider; a passing failure opens the cool-down. */
  private async loginFailed(config: ProviderConfig, error: RpaError): Promise<void> {
    const provider = config.descriptor.name;
    if (error.code === 'LOGIN_REFUSED' || error.code === 'TOTP_REFUSED') await this.deps.pauses.loginRefused(config, error);
    else if (error.code === 'CONFIG_INVALID') await this.deps.pauses.pause(provider, 'config_invalid', error.message);
    else await this.deps.breaker.recordFailure(provider, error.code);
  }

  /**
   * Tells Postgres every `heartbeatMs` that this run is alive; the reaper recovers batches whose
   * run went quiet. A beat that finds another run holding the batch makes check() throw.
   */
  private keepAlive(hold: RunHold, log: Logger): { check(): void; stop(): void } {
    let lost = false;
    const timer = setInterval(() => {
      heartbeatRun(this.deps.db, hold).then(
        (held) => {
          if (!held && !lost) {
            lost = true;
            log.warn({ token: hold.token }, 'this run no longer holds its batch');
          }
        },
        (err: unknown) => log.warn({ err: coerceError(err).toJSON() }, 'batch heartbeat failed'),
      );
    }, this.deps.heartbeatMs ?? 5_000);
    timer.unref();
    return {
      check: () => {
        if (lost) throw new RpaError('RUN_SUPERSEDED', `batch ${hold.batchId}: another run holds it now; this run stops`);
      },
      stop: () => clearInterval(timer),
    };
  }

  /** When a job handed back after its `attempt`-th try may run again (JOB_RETRY_BASE_MS · 2^(n−1), at most 10 min). */
  private retryAt(attempt: number): Date {
    return new Date(Date.now() + backoffMs(attempt, { baseMs: this.deps.retryBaseMs, maxMs: 600_000 }));
  }

  private async handBack(hold: RunHold, members: JobRow[], availableAt: Date, cause: string, error?: RpaError): Promise<number> {
    const returned = await returnJobs(this.deps.db, hold.batchId, members.map((m) => m.id), {
      availableAt,
      cause,
      actor: this.deps.workerName,
      error: error ? { code: error.code, message: error.message } : undefined,
      hold,
    });
    const byId = new Map(members.map((m) => [m.id, m]));
    await this.deps.enqueue(returned.map((r) => ({ id: r.id, provider: byId.get(r.id)!.provider, trip: r.trip, availableAt, label: queueLabel(byId.get(r.id)!) })));
    return returned.length;
  }
}
