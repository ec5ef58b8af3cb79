import type { Job } from 'bullmq';
import type { Db } from '../db/database.js';
import type { Logger } from '../logger.js';
import type { BatchFlowData } from '../queues/batch-flow.js';
import type { EnqueueItem } from '../queues/job-enqueuer.js';
import { settleBatch } from './batch-settlement.js';

export interface BatchFinalizerDeps {
  db: Db;
  enqueue: (items: EnqueueItem[]) => Promise<void>;
  jobsEnded: (jobIds: string[]) => Promise<void>;
  logger: Logger;
  /** Told once per finalised batch (metrics, events). */
  onBatchFinished?: (batch: { batchId: string; provider: string; status: 'completed' | 'failed' }) => void;
}

/** The parent of a batch flow: runs once the batch's run has finished, however it finished (see settleBatch). */
export function createBatchFinalizer(deps: BatchFinalizerDeps) {
  return async (job: Job<BatchFlowData>): Promise<{ status: 'completed' | 'failed' }> => {
    const { batchId, provider } = job.data;
    const failures = Object.values(await job.getIgnoredChildrenFailures());
    const status = (await settleBatch(deps, batchId, { actor: 'batch-finalizer', failure: failures[0] === undefined ? undefined : String(failures[0]) })) ?? 'failed';
    deps.onBatchFinished?.({ batchId, provider, status });
    return { status };
  };
}
