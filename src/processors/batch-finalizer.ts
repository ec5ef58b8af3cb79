import type { Job } from 'bullmq';
import type { Db } from '../db/database.js';
import { endedMembers, findBatch } from '../db/batch-store.js';
import { closeBatch, returnJobs, unfinishedMembers } from '../db/job-transitions.js';
import type { Logger } from '../logger.js';
import type { BatchFlowData } from '../queues/batch-flow.js';
import type { EnqueueItem } from '../queues/job-enqueuer.js';

export interface BatchFinalizerDeps {
  db: Db;
  enqueue: (items: EnqueueItem[]) => Promise<void>;
  jobsEnded: (jobIds: string[]) => Promise<void>;
  logger: Logger;
  /** Told once per finalised batch (metrics, events). */
  onBatchFinished?: (batch: { batchId: string; provider: string; status: 'completed' | 'failed' }) => void;
}

/**
 * The parent of a batch flow: runs once the batch's run has finished, however it finished.
 * Jobs the run left unfinished (it finally failed) go back to wait for a later batch; the
 * batch is closed; every ended job's callback is (idempotently) due.
 */
export function createBatchFinalizer(deps: BatchFinalizerDeps) {
  return async (job: Job<BatchFlowData>): Promise<{ status: 'completed' | 'failed' }> => {
    const { batchId, provider } = job.data;
    const log = deps.logger.child({ batch_id: batchId, provider });
    const failures = Object.values(await job.getIgnoredChildrenFailures());
    const leftovers = await unfinishedMembers(deps.db, batchId);
    if (leftovers.length > 0) {
      const reason = failures[0] ?? 'the batch run ended with jobs unfinished';
      const returned = await returnJobs(deps.db, batchId, leftovers.map((j) => j.id), {
        availableAt: new Date(),
        cause: `batch run failed: ${reason}`.slice(0, 500),
        actor: 'batch-finalizer',
      });
      await deps.enqueue(returned.map((r) => ({ id: r.id, provider, trip: r.trip })));
      log.warn({ returned: returned.length, reason }, 'batch run failed; its unfinished jobs wait for a later batch');
    }
    const batch = await findBatch(deps.db, batchId);
    const error = batch?.error ?? (failures.length > 0 ? { code: 'BATCH_RUN_FAILED', message: String(failures[0]).slice(0, 500) } : null);
    const status = error || leftovers.length > 0 ? 'failed' : 'completed';
    await closeBatch(deps.db, batchId, status, error ?? (leftovers.length > 0 ? { code: 'BATCH_RUN_FAILED', message: 'jobs left unfinished' } : undefined));
    await deps.jobsEnded(await endedMembers(deps.db, batchId));
    deps.onBatchFinished?.({ batchId, provider, status });
    log.info({ status, size: batch?.size, logins: batch?.login_count }, 'batch finalised');
    return { status };
  };
}
