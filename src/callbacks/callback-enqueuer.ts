import { pendingDeliveriesOf, pendingDeliveryPage, recordDueDeliveries } from '../db/callback-store.js';
import type { Db } from '../db/database.js';
import type { Logger } from '../logger.js';
import { withTimeout } from '../infra/with-timeout.js';
import type { QueueRegistry } from '../queues/queue-registry.js';
import { CALLBACK_RETRY } from './callback-retry-policy.js';

/** Data of a callback job: the job id only; the payload is built from Postgres when it is sent. */
export interface CallbackJobData {
  jobId: string;
}

/** BullMQ job id of a job's callback: adding it twice adds it once. */
export function callbackQueueJobId(jobId: string): string {
  return `callback-${jobId}`;
}

/**
 * Schedules the callbacks of jobs that have ended. Safe to call more than once for the same
 * job: the delivery row is created only if absent, the queue job id is deterministic, and a
 * delivery that already finished (delivered, failed, refused) is not queued again.
 */
export class CallbackEnqueuer {
  constructor(
    private readonly db: Db,
    private readonly queues: QueueRegistry,
    private readonly logger: Logger,
  ) {}

  /**
   * For each of `jobIds` that has ended and has a callback_url: records a pending delivery and
   * queues it. Jobs still running or without a callback_url are skipped. Throws when Valkey
   * cannot be reached in `timeoutMs`; the pending rows stay in Postgres.
   */
  async enqueueForJobs(jobIds: string[], timeoutMs = 5_000): Promise<void> {
    const ids = [...new Set(jobIds)];
    if (ids.length === 0) return;
    await recordDueDeliveries(this.db, ids);
    await this.add(await pendingDeliveriesOf(this.db, ids), timeoutMs);
  }

  /**
   * Puts back on the queue every pending delivery whose queue job is gone: for a sweeper, after
   * Valkey was unreachable when a job ended, or was wiped. Deliveries still waiting or delayed
   * on the queue are left alone. Returns how many were queued again.
   */
  async enqueuePending(pageSize = 500, timeoutMs = 5_000): Promise<number> {
    const queue = this.queues.callbacks();
    let after = '0';
    let requeued = 0;
    for (;;) {
      const page = await pendingDeliveryPage(this.db, after, pageSize);
      if (page.length === 0) break;
      after = page.at(-1)!;
      const states = await withTimeout(
        Promise.all(page.map((jobId) => queue.getJobState(callbackQueueJobId(jobId)))),
        timeoutMs,
        'read callback job states from Valkey',
      );
      const missing = page.filter((_, i) => states[i] === 'unknown');
      const finished = page.filter((_, i) => states[i] === 'completed' || states[i] === 'failed');
      if (finished.length > 0) this.logger.warn({ job_ids: finished.slice(0, 20), count: finished.length }, 'pending callback deliveries whose queue job has finished');
      await this.add(missing, timeoutMs);
      requeued += missing.length;
      if (page.length < pageSize) break;
    }
    if (requeued > 0) this.logger.info({ count: requeued }, 'pending callbacks queued again');
    return requeued;
  }

  private async add(jobIds: string[], timeoutMs: number): Promise<void> {
    if (jobIds.length === 0) return;
    await withTimeout(
      this.queues.callbacks().addBulk(
        jobIds.map((job_id) => ({
          name: 'callback',
          data: { jobId: job_id } satisfies CallbackJobData,
          opts: {
            jobId: callbackQueueJobId(job_id),
            attempts: CALLBACK_RETRY.attempts,
            backoff: { type: CALLBACK_RETRY.backoff.type, delay: CALLBACK_RETRY.backoff.delay },
            removeOnComplete: { age: 24 * 3600, count: 10_000 },
            removeOnFail: { age: 7 * 24 * 3600 },
          },
        })),
      ),
      timeoutMs,
      'enqueue callbacks to Valkey',
    );
    this.logger.debug({ count: jobIds.length }, 'callbacks enqueued');
  }
}
