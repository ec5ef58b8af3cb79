import { Router } from 'express';
import type { CallbackUrlPolicy } from '../../callbacks/callback-url-guard.js';
import type { Db } from '../../db/database.js';
import { findDelivery } from '../../db/callback-store.js';
import { listJobEvents } from '../../db/event-store.js';
import { listEvidence, listEvidenceOf } from '../../db/evidence-metadata-store.js';
import { withdrawJob } from '../../db/job-transitions.js';
import { findJob, listJobs } from '../../db/job-store.js';
import { JOB_STATUSES } from '../../db/schema.js';
import { RpaError } from '../../errors/failures.js';
import { parseBulkRequest, parseJobRequest, parseProvider } from '../../jobs/job-request.js';
import type { JobSubmission } from '../../jobs/job-submission.js';
import { requirePermission } from '../auth/authenticate.js';
import { jobView } from '../job-view.js';
import { idParam, limitParam, oneOf, optionalQuery } from '../request-params.js';

export interface JobsRoutesDeps {
  db: Db;
  submission: JobSubmission;
  callbackPolicy: CallbackUrlPolicy;
  /** Told when an operator withdraws a job, so its end is reported like any other. */
  onJobWithdrawn?: (jobId: string) => Promise<void>;
}

function idempotencyKey(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value.length === 0 || value.length > 200) {
    throw new RpaError('VALIDATION_FAILED', 'Idempotency-Key: must be 1 to 200 characters', { field: 'Idempotency-Key' });
  }
  return value;
}

export function jobsRoutes(deps: JobsRoutesDeps): Router {
  const router = Router();

  router.post('/jobs', requirePermission('jobs:submit'), async (req, res) => {
    const request = parseJobRequest(req.body, deps.callbackPolicy);
    const outcome = await deps.submission.submit([request], { actor: req.identity!.name, idempotencyKey: idempotencyKey(req.get('idempotency-key')) });
    res.status(202).json({ job_id: Number(outcome.jobIds[0]), status: 'accepted' });
  });

  router.post('/jobs/bulk', requirePermission('jobs:submit'), async (req, res) => {
    const requests = parseBulkRequest(req.body, deps.callbackPolicy);
    const outcome = await deps.submission.submit(requests, {
      actor: req.identity!.name,
      idempotencyKey: idempotencyKey(req.get('idempotency-key')),
      itemField: 'jobs',
    });
    res.status(202).json({ job_ids: outcome.jobIds.map(Number), count: outcome.jobIds.length, status: 'accepted' });
  });

  router.get('/jobs', requirePermission('jobs:read'), async (req, res) => {
    const query = req.query as Record<string, unknown>;
    const provider = optionalQuery(query, 'provider');
    const batchId = optionalQuery(query, 'batch_id');
    const cursor = optionalQuery(query, 'cursor');
    const limit = limitParam(optionalQuery(query, 'limit'));
    const rows = await listJobs(deps.db, {
      status: oneOf(optionalQuery(query, 'status'), JOB_STATUSES, 'status'),
      provider: provider === undefined ? undefined : parseProvider(provider),
      batchId: batchId === undefined ? undefined : idParam(batchId, 'batch_id'),
      beforeId: cursor === undefined ? undefined : idParam(cursor, 'cursor'),
      limit,
    });
    const last = rows.at(-1);
    const evidence = await listEvidenceOf(deps.db, rows.map((r) => r.id));
    res.json({ jobs: rows.map((r) => jobView(r, undefined, evidence.get(r.id))), next_cursor: rows.length === limit && last ? last.id : null });
  });

  router.get('/jobs/:id', requirePermission('jobs:read'), async (req, res) => {
    const id = idParam(req.params.id);
    const job = await findJob(deps.db, id);
    if (!job) throw new RpaError('NOT_FOUND', `job ${id} does not exist`, { field: 'id' });
    res.json(jobView(job, (await findDelivery(deps.db, id)) ?? null, await listEvidence(deps.db, id)));
  });

  router.get('/jobs/:id/events', requirePermission('jobs:read'), async (req, res) => {
    const id = idParam(req.params.id);
    if (!(await findJob(deps.db, id))) throw new RpaError('NOT_FOUND', `job ${id} does not exist`, { field: 'id' });
    res.json({ events: await listJobEvents(deps.db, id) });
  });

  // Withdraw a job that has not started. `/cancel` is the route's first name, kept for ORDS.
  router.post(['/jobs/:id/withdraw', '/jobs/:id/cancel'], requirePermission('jobs:operate'), async (req, res) => {
    const id = idParam(req.params.id);
    const actor = req.identity!.name;
    const withdrawn = await withdrawJob(deps.db, id, actor);
    if (!withdrawn) {
      const job = await findJob(deps.db, id);
      if (!job) throw new RpaError('NOT_FOUND', `job ${id} does not exist`, { field: 'id' });
      throw new RpaError('CONFLICT', `job ${id} is ${job.status}; only a pending job can be withdrawn`, { field: 'id' });
    }
    await deps.onJobWithdrawn?.(id);
    res.json(jobView(withdrawn, undefined, await listEvidence(deps.db, id)));
  });

  return router;
}
