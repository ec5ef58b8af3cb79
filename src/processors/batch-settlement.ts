import { endedMembers, findBatch } from '../db/batch-store.js';
import type { Db } from '../db/database.js';
import { closeBatch, fenceBatch, returnJobs, unfinishedMembers } from '../db/job-transitions.js';
import type { JobError } from '../db/schema.js';
import type { Logger } from '../logger.js';
import type { EnqueueItem } from '../queues/job-enqueuer.js';

export interface SettlementDeps {
  db: Db;
  enqueue: (items: EnqueueItem[]) => Promise<void>;
  jobsEnded: (jobIds: string[]) => Promise<void>;
  logger: Logger;
}

/**
 * Ends a batch whose run is over, however it ended (the flow's parent after its run; the reaper
 * for a batch no live run holds): the batch is fenced first, so a run still going somewhere
 * (frozen, cut off) touches nothing more; its unfinished jobs go back to wait for a later batch;
 * the batch is closed; every ended job's callback is (idempotently) due. Safe to run twice.
 */
export async function settleBatch(deps: SettlementDeps, batchId: string, why: { actor: string; failure?: string }): Promise<'completed' | 'failed' | undefined> {
  const batch = await findBatch(deps.db, batchId);
  if (!batch) return undefined;
  const log = deps.logger.child({ batch_id: batchId, provider: batch.provider });
  const hold = await fenceBatch(deps.db, batchId);
  const leftovers = await unfinishedMembers(deps.db, batchId);
  if (leftovers.length > 0) {
    const reason = why.failure ?? 'the batch run ended with jobs unfinished';
    const returned = await returnJobs(deps.db, batchId, leftovers.map((j) => j.id), { availableAt: new Date(), cause: `batch run failed: ${reason}`.slice(0, 500), actor: why.actor, hold });
    await deps.enqueue(returned.map((r) => ({ id: r.id, provider: batch.provider, trip: r.trip })));
    log.warn({ returned: returned.length, reason }, 'batch run failed; its unfinished jobs wait for a later batch');
  }
  const error: JobError | null = batch.error ?? (why.failure ? { code: 'BATCH_RUN_FAILED', message: why.failure.slice(0, 500) } : leftovers.length > 0 ? { code: 'BATCH_RUN_FAILED', message: 'jobs left unfinished' } : null);
  const status = error ? 'failed' : 'completed';
  await closeBatch(deps.db, batchId, status, error ?? undefined);
  await deps.jobsEnded(await endedMembers(deps.db, batchId));
  log.info({ status, size: batch.size, logins: batch.login_count, by: why.actor }, 'batch finalised');
  return status;
}
