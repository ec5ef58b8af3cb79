import type { BrowserLease } from '../browser/browser-lease.js';
import type { BrowserSource } from '../browser/browser-source.js';
import type { ProviderConfig } from '../config/config.js';
import type { Db } from '../db/database.js';
import { findBatch } from '../db/batch-repository.js';
import type { JobRow } from '../db/job-repository.js';
import {
  addBatchLogins,
  completeCancellationIntent,
  finishJob,
  markBatchInProgress,
  recordCancellationIntent,
  returnJobs,
  startJob,
  unfinishedMembers,
} from '../db/job-transitions.js';
import { coerceError, isRpaError, RpaError } from '../errors.js';
import type { Logger } from '../logger.js';
import { ProviderSession } from '../providers/provider-session.js';
import type { ProviderAutomation } from '../providers/provider.js';
import type { EnqueueItem } from '../queues/job-enqueuer.js';
import { createTotpHooks } from '../totp/totp-hooks.js';
import type { TotpManager } from '../totp/totp-manager.js';
import type { LoginCircuitBreaker } from './login-circuit-breaker.js';
import { retryDelayMs } from './retry-delay.js';

/** Errors of the login itself: they fail no job, the jobs wait for a later batch. */
const LOGIN_ERRORS = new Set(['LOGIN_REFUSED', 'TOO_MANY_SESSIONS', 'TOTP_REFUSED', 'TOTP_STEP_TAKEN']);

export interface BatchRunnerDeps {
  db: Db;
  providers: Record<string, ProviderConfig>;
  automationFor: (provider: string) => ProviderAutomation;
  /** A pool client (BROWSER_POOL_URL) or the worker's brokered pools. */
  pool: BrowserSource;
  totp: TotpManager;
  breaker: LoginCircuitBreaker;
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
}

export interface BatchRunSummary {
  batchId: string;
  completed: number;
  failed: number;
  returned: number;
  logins: number;
  skipped?: 'finished' | 'empty' | 'paused';
  loginError?: { code: string; message: string };
}

export interface BatchProgress {
  done: number;
  total: number;
}

/**
 * Runs one batch: one leased browser context, one login, then each unfinished job in turn.
 * Each job's end is written the moment it ends. Safe to run again after a crash: finished
 * jobs are skipped, a job found running carries on without a second attempt count, and a
 * cancellation reads the circuit's state before it submits anything.
 */
export class BatchRunner {
  constructor(private readonly deps: BatchRunnerDeps) {}

  async run(batchId: string, onProgress?: (progress: BatchProgress) => Promise<void>): Promise<BatchRunSummary> {
    const { db, breaker } = this.deps;
    const summary: BatchRunSummary = { batchId, completed: 0, failed: 0, returned: 0, logins: 0 };
    const batch = await findBatch(db, batchId);
    if (!batch || batch.status === 'completed' || batch.status === 'failed') return { ...summary, skipped: 'finished' };
    const provider = batch.provider;
    const log = this.deps.logger.child({ batch_id: batchId, provider });
    const members = await unfinishedMembers(db, batchId);
    if (members.length === 0) return { ...summary, skipped: 'empty' };

    const breakerState = await breaker.state(provider);
    if (breakerState.open) {
      summary.returned += await this.handBack(batchId, members, new Date(breakerState.openUntil), 'provider paused by its login circuit breaker');
      return { ...summary, skipped: 'paused' };
    }

    await markBatchInProgress(db, batchId, this.deps.workerName);
    const total = batch.size;
    let done = total - members.length;
    const started = Date.now();
    const session = new BatchSession(this.deps, provider, batchId, log);
    try {
      try {
        await session.open();
        await breaker.recordSuccess(provider);
      } catch (thrown) {
        const error = coerceError(thrown);
        await breaker.recordFailure(provider, error.code);
        summary.loginError = { code: error.code, message: error.message };
        await this.recordBatchError(batchId, summary.loginError);
        summary.returned += await this.handBack(batchId, members, new Date(Date.now() + retryDelayMs(1, this.deps.retryBaseMs)), `login failed: ${error.code}`, error);
        log.warn({ err: error.toJSON() }, 'login failed; the batch\'s jobs wait for a later batch');
        return summary;
      }

      for (let index = 0; index < members.length; index++) {
        const member = members[index]!;
        const outcome = await this.runJob(session, member, batchId, log);
        if (outcome === 'login-lost') {
          summary.returned += await this.handBack(batchId, members.slice(index), new Date(Date.now() + retryDelayMs(1, this.deps.retryBaseMs)), 'login lost mid-batch');
          break;
        }
        if (outcome !== 'skipped') summary[outcome] += 1;
        done += 1;
        await onProgress?.({ done, total }).catch(() => undefined);
      }
    } finally {
      summary.logins = session.logins;
      await session.close();
      await addBatchLogins(db, batchId, summary.logins);
    }
    log.info({ ...summary, duration_ms: Date.now() - started }, 'batch run finished');
    return summary;
  }

  private async runJob(session: BatchSession, member: JobRow, batchId: string, batchLog: Logger): Promise<'completed' | 'failed' | 'returned' | 'skipped' | 'login-lost'> {
    const { db } = this.deps;
    const started = await startJob(db, member.id, batchId, this.deps.workerName);
    // Withdrawn by an operator, or ended by another run: nothing to do.
    if (!started) return 'skipped';
    const job = started.job;
    const log = batchLog.child({ job_id: job.id, attempt: job.attempts });
    const startedAt = Date.now();
    try {
      if (job.action === 'cancellation') {
        const intent = await recordCancellationIntent(db, job, batchId);
        if (intent.earlier || started.resumed) log.warn('an earlier run may have submitted this cancellation; the portal is read before anything is submitted');
      }
      const outcome = await session.perform(job);
      const ended = await finishJob(db, job.id, batchId, { status: 'completed', result: outcome.result as unknown as Record<string, unknown>, evidence: outcome.evidence, cause: 'completed' }, this.deps.workerName);
      if (job.action === 'cancellation') {
        const reference = (outcome.result as { reference?: string | null }).reference ?? null;
        await completeCancellationIntent(db, job.id, reference);
      }
      if (ended) await this.deps.jobsEnded([job.id]);
      log.info({ duration_ms: Date.now() - startedAt, attempt_of: `${job.attempts} of ${job.max_attempts}` }, 'job completed');
      return 'completed';
    } catch (thrown) {
      const error = coerceError(thrown);
      const evidence = Array.isArray(error.details?.evidence) ? (error.details.evidence as string[]) : [];
      const jobError = { code: error.code, message: error.message };
      if (LOGIN_ERRORS.has(error.code)) {
        await this.deps.breaker.recordFailure(job.provider, error.code);
        log.warn({ err: error.toJSON() }, 're-login failed mid-batch');
        return 'login-lost';
      }
      if (error.retryable && job.attempts < job.max_attempts) {
        const returned = await returnJobs(db, batchId, [job.id], {
          availableAt: new Date(Date.now() + retryDelayMs(job.attempts, this.deps.retryBaseMs)),
          cause: `${error.code}: retry ${job.attempts + 1} of ${job.max_attempts} later`,
          actor: this.deps.workerName,
          error: jobError,
          evidence,
        });
        await this.deps.enqueue(returned.map((r) => ({ id: r.id, provider: job.provider, trip: r.trip, availableAt: new Date(Date.now() + retryDelayMs(job.attempts, this.deps.retryBaseMs)) })));
        log.warn({ err: error.toJSON(), attempt_of: `${job.attempts} of ${job.max_attempts}` }, 'job failed for a passing reason; it returns to a later batch');
        return 'returned';
      }
      const ended = await finishJob(db, job.id, batchId, { status: 'failed', error: jobError, evidence, cause: error.code }, this.deps.workerName);
      if (ended) await this.deps.jobsEnded([job.id]);
      log.warn({ err: error.toJSON(), attempt_of: `${job.attempts} of ${job.max_attempts}`, duration_ms: Date.now() - startedAt }, 'job failed');
      return 'failed';
    }
  }

  private async handBack(batchId: string, members: JobRow[], availableAt: Date, cause: string, error?: RpaError): Promise<number> {
    const returned = await returnJobs(this.deps.db, batchId, members.map((m) => m.id), {
      availableAt,
      cause,
      actor: this.deps.workerName,
      error: error ? { code: error.code, message: error.message } : undefined,
    });
    const provider = members[0]?.provider ?? '';
    await this.deps.enqueue(returned.map((r) => ({ id: r.id, provider, trip: r.trip, availableAt })));
    return returned.length;
  }

  private async recordBatchError(batchId: string, error: { code: string; message: string }): Promise<void> {
    await this.deps.db.updateTable('batches').set({ error: JSON.stringify(error), updated_at: new Date() }).where('id', '=', batchId).execute();
  }
}

/**
 * The browser side of a batch: a lease, a provider session on it, logged in. When the browser
 * dies, it leases a context on another browser, logs in again and carries on.
 */
class BatchSession {
  private lease?: BrowserLease;
  private session?: ProviderSession;
  private readonly avoid: string[] = [];
  private earlierLogins = 0;

  constructor(
    private readonly deps: BatchRunnerDeps,
    private readonly provider: string,
    private readonly batchId: string,
    private readonly log: Logger,
  ) {}

  get logins(): number {
    return this.earlierLogins + (this.session?.loginCount ?? 0);
  }

  async open(): Promise<void> {
    try {
      await this.openOnce();
    } catch (thrown) {
      if (!isRpaError(thrown, 'BROWSER_GONE')) throw thrown;
      this.log.warn('browser died during login; trying another browser');
      await this.openOnce();
    }
  }

  private async openOnce(): Promise<void> {
    await this.close();
    const config = this.deps.providers[this.provider];
    if (!config?.url) throw new RpaError('CONFIG_INVALID', `${this.provider}: no portal URL configured`);
    const hooks = config.totpSecret ? createTotpHooks(this.deps.totp, { provider: this.provider, account: config.login, secret: config.totpSecret }) : undefined;
    // Book the one-time code's step before the lease and the password step, so a login that
    // waits for a free step holds no browser and the portal's pre-auth cannot age out.
    await hooks?.prepare();
    try {
      const lease = await this.deps.pool.lease({ avoidBrowserIds: this.avoid });
      this.lease = lease;
      this.session = new ProviderSession({
        automation: this.deps.automationFor(this.provider),
        context: lease.context,
        baseUrl: config.url,
        credentials: { login: config.login, password: config.password },
        getTotp: hooks?.getTotp,
        reportTotp: hooks?.reportTotp,
        evidenceDir: this.deps.evidenceDir,
        batchId: this.batchId,
        logger: this.log,
      });
      try {
        await this.session.login();
      } catch (thrown) {
        const classified = lease.classify(thrown);
        if (isRpaError(classified, 'BROWSER_GONE')) this.avoid.push(lease.browserId);
        throw classified;
      }
    } finally {
      // A step the login did not take (it failed before its code) goes back to the manager.
      await hooks?.release();
    }
  }

  /** Runs the job's action; a dead browser → new context elsewhere, new login, one more try. */
  async perform(job: JobRow) {
    try {
      return await this.performOnce(job);
    } catch (thrown) {
      const classified = this.lease ? this.lease.classify(thrown) : thrown;
      if (!isRpaError(classified, 'BROWSER_GONE')) throw classified;
      this.log.warn({ job_id: job.id }, 'browser died mid-job; logging in again on another browser');
      if (this.lease) this.avoid.push(this.lease.browserId);
      await this.open();
      return this.performOnce(job);
    }
  }

  private async performOnce(job: JobRow) {
    const session = this.session!;
    const params = job.parameters;
    return job.action === 'validation'
      ? session.validate(job.id, params.circuit_number)
      : session.cancel(job.id, { circuit_number: params.circuit_number, reason: params.reason, effective_date: params.effective_date });
  }

  async close(): Promise<void> {
    if (this.session) {
      this.earlierLogins += this.session.loginCount;
      await this.session.close().catch(() => undefined);
      this.session = undefined;
    }
    if (this.lease) {
      await this.lease.release();
      this.lease = undefined;
    }
  }
}
