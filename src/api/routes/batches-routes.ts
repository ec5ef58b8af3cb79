import { Router } from 'express';
import type { Db } from '../../db/database.js';
import { batchProgress, findBatch, findBatchMembers, listActiveBatches, listBatches, type BatchRow } from '../../db/batch-store.js';
import { BATCH_STATUSES } from '../../db/schema.js';
import { RpaError } from '../../errors/failures.js';
import { parseProvider } from '../../jobs/job-request.js';
import { requirePermission } from '../auth/authenticate.js';
import type { BatchSizeView } from '../../queues/batch-sizer.js';
import { idParam, limitParam, noQuery, oneOf, sinceParam, strictQuery } from '../request-params.js';

export function batchView(batch: BatchRow) {
  return {
    batch_id: Number(batch.id),
    provider: batch.provider,
    status: batch.status,
    worker: batch.worker,
    size: batch.size,
    progress: batchProgress(batch),
    completed: batch.completed_count,
    failed: batch.failed_count,
    returned: batch.returned_count,
    logins: batch.login_count,
    error: batch.error,
    created_at: batch.created_at,
    started_at: batch.started_at,
    finished_at: batch.finished_at,
  };
}

/**
 * `/batches*`: for roles with batches:read (viewer, operator, admin). Not for submitters: a
 * batch holds the jobs of every key, so its members, errors and progress are not one key's to see
 * (a submitter's own job names its batch_id).
 */
export function batchesRoutes(deps: { db: Db; batchSizes?: () => Promise<Record<string, BatchSizeView>> }): Router {
  const router = Router();
  router.use('/batches', requirePermission('batches:read'));

  router.get('/batches', async (req, res) => {
    const query = strictQuery(req.query, ['status', 'provider', 'since', 'cursor', 'limit']);
    const limit = limitParam(query.limit);
    const rows = await listBatches(deps.db, {
      status: oneOf(query.status, BATCH_STATUSES, 'status'),
      provider: query.provider === undefined ? undefined : parseProvider(query.provider),
      since: sinceParam(query.since),
      beforeId: query.cursor === undefined ? undefined : idParam(query.cursor, 'cursor'),
      limit,
    });
    const last = rows.at(-1);
    // The size each provider's batches are cut to now (measured; Valkey). Left out while Valkey is away.
    const batchSizes = deps.batchSizes ? await deps.batchSizes().catch(() => undefined) : undefined;
    res.json({ batches: rows.map(batchView), next_cursor: rows.length === limit && last ? last.id : null, ...(batchSizes ? { batch_sizes: batchSizes } : {}) });
  });

  router.get('/batches/active', noQuery, async (_req, res) => {
    const rows = await listActiveBatches(deps.db);
    res.json({ active_batches: rows.length, batches: rows.map(batchView) });
  });

  router.get('/batches/:id', noQuery, async (req, res) => {
    const id = idParam(req.params.id);
    const batch = await findBatch(deps.db, id);
    if (!batch) throw new RpaError('NOT_FOUND', `batch ${id} does not exist`, { field: 'id' });
    const members = await findBatchMembers(deps.db, id);
    res.json({
      ...batchView(batch),
      jobs: members.map((m) => ({
        job_id: Number(m.id),
        action: m.action,
        circuit_number: m.circuit_number,
        status: m.status,
        // A job handed back for a retry belongs to a later batch now.
        current_batch_id: m.batch_id === null ? null : Number(m.batch_id),
        attempt: m.attempt,
        result: m.result,
        error: m.error,
      })),
    });
  });

  return router;
}
