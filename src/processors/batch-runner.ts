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
import { backoffMs } from '../errors/backoff.js';
import { coerceError } from '../errors/coerce-error.js';
import { RpaError } from '../errors/failures.js';
import type { Logger } from '../logger.js';
import type { ProviderAutomation } from '../providers/provider.js';
import type { EnqueueItem } from '../queues/job-enqueuer.js';
import type { TotpManager } from '../totp/totp-manager.js';
import type { LoginCircuitBreaker } from './login-circuit-breaker.js';
import { BatchSession } from './batch-session.js';

export interface BatchRunnerDeps {
  db: Db;
  providers: Readonly<Record<string, ProviderConfig>>;
  /** Base URL of each provider's portal (Runtime.portalUrls). */
  portalUrls: Readonly<Record<string, string>>;
  automationFor: (provider: string) => ProviderAutomation;
  /** Where contexts are leased: the pools in the directory, or the fixed BROWSER_POOL_URL (PoolLeaseSource). */
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
    const config = this.deps.providers[provider];
    if (!config) throw new RpaError('CONFIG_INVALID', `batch ${batchId}: unknown provider ${provider}`);
    const session = new BatchSession({
      provider: config,
      portalUrl: this.deps.portalUrls[provider],
      automation: this.deps.automationFor(provider),
      browsers: this.deps.pool,
      totp: this.deps.totp,
      evidenceDir: this.deps.evidenceDir,
      batchId,
      logger: log,
    });
    try {
      try {
        await session.open();
        await breaker.recordSuccess(provider);
      } catch (thrown) {
        const error = coerceError(thrown);
        await breaker.recordFailure(provider, error.code);
        summary.loginError = { code: error.code, message: error.message };
        await this.recordBatchError(batchId, summary.loginError);
        summary.returned += await this.handBack(batchId, members, this.retryAt(1), `login failed: ${error.code}`, error);
        log.warn({ err: error.toJSON() }, 'login failed; the batch\'s jobs wait for a later batch');
        return summary;
      }

      for (let index = 0; index < members.length; index++) {
        const member = members[index]!;
        const outcome = await this.runJob(session, member, batchId, log);
        if (outcome === 'login-lost') {
          summary.returned += await this.handBack(batchId, members.slice(index), this.retryAt(1), 'login lost mid-batch');
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
      if (error.scope === 'login') {
        await this.deps.breaker.recordFailure(job.provider, error.code);
        log.warn({ err: error.toJSON() }, 're-login failed mid-batch');
        return 'login-lost';
      }
      if (error.retryable && job.attempts < job.max_attempts) {
        const availableAt = this.retryAt(job.attempts);
        const returned = await returnJobs(db, batchId, [job.id], {
          availableAt,
          cause: `${error.code}: retry ${job.attempts + 1} of ${job.max_attempts} later`,
          actor: this.deps.workerName,
          error: jobError,
          evidence,
        });
        await this.deps.enqueue(returned.map((r) => ({ id: r.id, provider: job.provider, trip: r.trip, availableAt })));
        log.warn({ err: error.toJSON(), attempt_of: `${job.attempts} of ${job.max_attempts}` }, 'job failed for a passing reason; it returns to a later batch');
        return 'returned';
      }
      const ended = await finishJob(db, job.id, batchId, { status: 'failed', error: jobError, evidence, cause: error.code }, this.deps.workerName);
      if (ended) await this.deps.jobsEnded([job.id]);
      log.warn({ err: error.toJSON(), attempt_of: `${job.attempts} of ${job.max_attempts}`, duration_ms: Date.now() - startedAt }, 'job failed');
      return 'failed';
    }
  }

  /** When a job handed back after its `attempt`-th try may run again (JOB_RETRY_BASE_MS · 2^(n−1), at most 10 min). */
  private retryAt(attempt: number): Date {
    return new Date(Date.now() + backoffMs(attempt, { baseMs: this.deps.retryBaseMs, maxMs: 600_000 }));
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
