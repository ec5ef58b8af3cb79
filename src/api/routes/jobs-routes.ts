import { Router, type Request } from 'express';
import type { CallbackUrlPolicy } from '../../callbacks/callback-url-guard.js';
import type { Db } from '../../db/database.js';
import { findDelivery } from '../../db/callback-store.js';
import { listJobEvents } from '../../db/event-store.js';
import { listEvidence, listEvidenceOf } from '../../db/evidence-metadata-store.js';
import { withdrawJob } from '../../db/job-transitions.js';
import { findJob, listJobs } from '../../db/job-store.js';
import { JOB_ACTIONS, JOB_STATUSES } from '../../db/schema.js';
import { RpaError } from '../../errors/failures.js';
import { parseBulkRequest, parseJobRequest, parseProvider } from '../../jobs/job-request.js';
import type { JobSubmission } from '../../jobs/job-submission.js';
import { visibleJob } from '../visible-job.js';
import { requirePermission } from '../auth/authenticate.js';
import { can, ownerScope } from '../auth/roles.js';
import { jobView } from '../job-view.js';
import type { RateLimits } from '../rate-limits.js';
import { emptyBody, idParam, limitParam, noQuery, oneOf, sinceParam, strictQuery } from '../request-params.js';

export interface JobsRoutesDeps {
  db: Db;
  submission: JobSubmission;
  callbackPolicy: CallbackUrlPolicy;
  /** Told when a job is withdrawn, so its end is reported like any other. */
  onJobWithdrawn?: (jobId: string) => Promise<void>;
  /** Counts submitted jobs per key (RATE_LIMIT_JOBS); none in tests that do not limit. */
  limits?: RateLimits;
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
  /** Callback delivery errors in full (they may name internal addresses) for staff roles; a submitter gets a generic text. */
  const detailed = (req: Request) => can(req.identity!.role, 'system:read');

  router.post('/jobs', requirePermission('jobs:submit'), noQuery, async (req, res) => {
    const request = parseJobRequest(req.body, deps.callbackPolicy);
    const key = idempotencyKey(req.get('idempotency-key'));
    await deps.limits?.jobs(res, req.identity!, 1);
    const outcome = await deps.submission.submit([request], { actor: req.identity!.name, idempotencyKey: key });
    res.status(202).json({ job_id: Number(outcome.jobIds[0]), status: 'accepted' });
  });

  router.post('/jobs/bulk', requirePermission('jobs:submit'), noQuery, async (req, res) => {
    const requests = parseBulkRequest(req.body, deps.callbackPolicy);
    const key = idempotencyKey(req.get('idempotency-key'));
    await deps.limits?.jobs(res, req.identity!, requests.length);
    const outcome = await deps.submission.submit(requests, { actor: req.identity!.name, idempotencyKey: key, itemField: 'jobs' });
    res.status(202).json({ job_ids: outcome.jobIds.map(Number), count: outcome.jobIds.length, status: 'accepted' });
  });

  router.get('/jobs', requirePermission('jobs:read'), async (req, res) => {
    const query = strictQuery(req.query, ['status', 'provider', 'action', 'batch_id', 'since', 'cursor', 'limit']);
    const limit = limitParam(query.limit);
    const rows = await listJobs(deps.db, {
      status: oneOf(query.status, JOB_STATUSES, 'status'),
      provider: query.provider === undefined ? undefined : parseProvider(query.provider),
      action: oneOf(query.action, JOB_ACTIONS, 'action'),
      since: sinceParam(query.since),
      batchId: query.batch_id === undefined ? undefined : idParam(query.batch_id, 'batch_id'),
      beforeId: query.cursor === undefined ? undefined : idParam(query.cursor, 'cursor'),
      submittedBy: ownerScope(req.identity!),
      limit,
    });
    const last = rows.at(-1);
    const evidence = await listEvidenceOf(deps.db, rows.map((r) => r.id));
    res.json({ jobs: rows.map((r) => jobView(r, undefined, evidence.get(r.id), { callbackDetail: detailed(req) })), next_cursor: rows.length === limit && last ? last.id : null });
  });

  router.get('/jobs/:id', requirePermission('jobs:read'), noQuery, async (req, res) => {
    const id = idParam(req.params.id);
    const job = await visibleJob(deps.db, req, id);
    res.json(jobView(job, (await findDelivery(deps.db, id)) ?? null, await listEvidence(deps.db, id), { callbackDetail: detailed(req) }));
  });

  router.get('/jobs/:id/events', requirePermission('jobs:read'), noQuery, async (req, res) => {
    const id = idParam(req.params.id);
    await visibleJob(deps.db, req, id);
    res.json({ events: await listJobEvents(deps.db, id) });
  });

  // Withdraw a job that has not started. `/cancel` is the route's first name, kept for ORDS.
  router.post(['/jobs/:id/withdraw', '/jobs/:id/cancel'], requirePermission('jobs:withdraw'), noQuery, async (req, res) => {
    const id = idParam(req.params.id);
    emptyBody(req.body);
    const actor = req.identity!.name;
    await visibleJob(deps.db, req, id);
    const withdrawn = await withdrawJob(deps.db, id, actor);
    if (!withdrawn) {
      const job = await findJob(deps.db, id);
      if (!job) throw new RpaError('NOT_FOUND', `job ${id} does not exist`, { field: 'id' });
      throw new RpaError('CONFLICT', `job ${id} is ${job.status}; only a pending job can be withdrawn`, { field: 'id' });
    }
    await deps.onJobWithdrawn?.(id);
    res.json(jobView(withdrawn, undefined, await listEvidence(deps.db, id), { callbackDetail: detailed(req) }));
  });

  return router;
}
