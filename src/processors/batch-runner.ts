import type { BrowserSource } from '../browser/browser-source.js';
import type { ProviderConfig } from '../config/config.js';
import type { Credentials } from '../config/live-settings.js';
import { findBatch, recordBatchError } from '../db/batch-store.js';
import type { Db } from '../db/database.js';
import { recordSubmit, settleSubmit, submitsOf } from '../db/intent-store.js';
import type { JobRow } from '../db/job-store.js';
import { addBatchLogins, claimBatchRun, finishJob, heartbeatRun, returnJobs, startJob, unfinishedMembers, type RunHold } from '../db/job-transitions.js';
import { backoffMs } from '../errors/backoff.js';
import { coerceError } from '../errors/coerce-error.js';
import { RpaError, isRpaError } from '../errors/failures.js';
import type { Logger } from '../logger.js';
import type { CancellationResult, ProviderAutomation, SubmitHooks } from '../providers/provider.js';
import type { EnqueueItem } from '../queues/job-enqueuer.js';
import type { PortalPaceStore } from '../queues/portal-pace.js';
import type { TotpManager } from '../totp/totp-manager.js';
import { BatchSession } from './batch-session.js';
import type { LoginCircuitBreaker } from './login-circuit-breaker.js';
import { runOnPages } from './page-scheduler.js';
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
  evidenceDir: string;
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
  /** Where what a run saw of its portal goes (pace, login time, session lifetimes), for the batchers' sizing. */
  paces?: PortalPaceStore;
}

export interface BatchRunSummary {
  batchId: string;
  completed: number;
  failed: number;
  returned: number;
  logins: number;
  skipped?: 'finished' | 'empty' | 'paused' | 'superseded';
  loginError?: { code: string; message: string };
  /** Where the run's time went (ms): to a logged-in session (lease, TOTP step, login), of which waiting for TOTP steps, then the jobs. */
  timings?: { toSessionMs: number; totpWaitMs: number; jobsMs: number; pages: number };
}

export interface BatchProgress {
  done: number;
  total: number;
}

/** How long a job whose circuit another job is working on waits before it is tried again. */
const CIRCUIT_BUSY_WAIT_MS = 3_000;

/**
 * Runs one batch: one leased browser context, one login, then the unfinished jobs, up to the
 * provider's `<P>_PAGES_PER_SESSION` at once on pages of that one session (never two of one
 * circuit at once; page-scheduler.ts). Each job's end is written the moment it ends, under the
 * run's hold on the batch (its fencing token): a run that lost its batch (its worker was frozen,
 * or cut off from Valkey, and the batch went to another) stops at its next step and touches
 * nothing. Safe to run again after a crash: finished jobs are skipped, a job found running
 * counts an attempt and starts over, and a cancellation reads the circuit's state before it
 * submits anything.
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
    const members = await unfinishedMembers(db, batchId);
    if (members.length === 0) return { ...summary, skipped: 'empty' };
    const config = this.deps.providers[provider];
    if (!config) throw new RpaError('CONFIG_INVALID', `batch ${batchId}: unknown provider ${provider}`);

    const hold = await claimBatchRun(db, batchId, this.deps.workerName);
    if (!hold) return { ...summary, skipped: 'finished' };
    const pause = await pauses.pausedFor(config);
    const breakerState = await breaker.state(provider);
    if (pause || breakerState.open) {
      const until = pause ? new Date(Date.now() + 60_000) : new Date(breakerState.openUntil);
      summary.returned += await this.handBack(hold, members, until, pause ? `provider paused (${pause.reason})` : 'provider paused by its login circuit breaker');
      return { ...summary, skipped: 'paused' };
    }

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
      evidenceDir: this.deps.evidenceDir,
      batchId,
      logger: log,
      onSessionLost: (aliveMs) => {
        log.info({ alive_ms: aliveMs }, 'the portal ended the session; measured for the batch size');
        this.deps.paces?.recordExpiry(provider, aliveMs).catch((err: unknown) => log.debug({ err }, 'session lifetime not recorded'));
      },
    });
    const pages = Math.min(config.pagesPerSession, members.length);
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

      // Jobs whose re-login failed mid-batch: with the jobs not started yet they wait for a later
      // batch, once every page has stopped (a job still on a page is never handed back under it).
      const loginLost: JobRow[] = [];
      const loginLoss = { counted: false };
      const schedule = await runOnPages(members, {
        lanes: pages,
        circuitOf: (member) => member.circuit_number,
        // In hand when an earlier run of this batch died: if it is what killed the child, it must
        // not take other jobs with it again (each would count an attempt), so it runs alone.
        alone: (member) => member.status === 'running',
        run: async (member, lane) => {
          heartbeat.check();
          const outcome = await this.runJob(session, member, hold, log, lane, loginLoss);
          if (outcome === 'login-lost') {
            loginLost.push(member);
            return 'stop';
          }
          if (outcome !== 'skipped') summary[outcome] += 1;
          done += 1;
          await onProgress?.({ done, total }).catch(() => undefined);
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
      if (loginLost.length > 0) {
        summary.returned += await this.handBack(hold, [...loginLost, ...schedule.notStarted], this.retryAt(1), 'login lost mid-batch');
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
   * One job on the page of `lane`. A failed re-login is counted towards the provider's breaker
   * or pause once per batch (`loginLoss`): the pages that waited for that re-login share its
   * failure, and one refusal must not count as several.
   */
  private async runJob(
    session: BatchSession,
    member: JobRow,
    hold: RunHold,
    batchLog: Logger,
    lane = 0,
    loginLoss = { counted: false },
  ): Promise<'completed' | 'failed' | 'returned' | 'skipped' | 'login-lost'> {
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
      await this.deps.enqueue(returned.map((r) => ({ id: r.id, provider: member.provider, trip: r.trip, availableAt: new Date(Date.now() + CIRCUIT_BUSY_WAIT_MS) })));
      return 'returned';
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
      log.info({ duration_ms: Date.now() - startedAt, attempt_of: `${job.attempts} of ${job.max_attempts}` }, 'job completed');
      return 'completed';
    } catch (thrown) {
      const error = coerceError(thrown);
      // Another run holds the batch, or our own infrastructure is out (Postgres, Valkey, the
      // pool): the job is not at fault and stays as it is; the run stops (and is put off).
      if (error.code === 'RUN_SUPERSEDED' || error.scope === 'batch') throw error;
      const evidence = Array.isArray(error.details?.evidence) ? (error.details.evidence as string[]) : [];
      const jobError = { code: error.code, message: error.message };
      if (error.scope === 'login') {
        if (!loginLoss.counted) {
          loginLoss.counted = true;
          await this.loginFailed(this.deps.providers[job.provider]!, error);
          log.warn({ err: error.toJSON() }, 're-login failed mid-batch');
        }
        return 'login-lost';
      }
      if (error.retryable && job.attempts < job.max_attempts) {
        const availableAt = this.retryAt(job.attempts);
        const returned = await returnJobs(db, hold.batchId, [job.id], {
          availableAt,
          cause: `${error.code}: retry ${job.attempts + 1} of ${job.max_attempts} later`,
          actor: this.deps.workerName,
          error: jobError,
          evidence,
          hold,
        });
        await this.deps.enqueue(returned.map((r) => ({ id: r.id, provider: job.provider, trip: r.trip, availableAt })));
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
    const provider = members[0]?.provider ?? '';
    await this.deps.enqueue(returned.map((r) => ({ id: r.id, provider, trip: r.trip, availableAt })));
    return returned.length;
  }
}
