import { Router } from 'express';
import type { Queue } from 'bullmq';
import { z } from 'zod';
import type { CallbackUrlPolicy } from '../../callbacks/callback-url-guard.js';
import type { Db } from '../../db/database.js';
import { RpaError } from '../../errors/failures.js';
import { parseWith, textField } from '../../http/request-schema.js';
import { createSchedule, deleteSchedule, listSchedules, nextRuns, type ScheduleRow } from '../../jobs/schedules.js';
import { requirePermission } from '../auth/authenticate.js';
import { ownerScope } from '../auth/roles.js';
import { emptyBody, idParam, noQuery } from '../request-params.js';

export interface SchedulesRoutesDeps {
  db: Db;
  maintenance: Queue;
  callbackPolicy: CallbackUrlPolicy;
  /** SCHEDULE_MIN_INTERVAL_MS: the shortest time a cron expression may leave between two runs. */
  minIntervalMs?: number;
}

export function scheduleView(row: ScheduleRow, next?: Date) {
  return {
    schedule_id: Number(row.id),
    name: row.name,
    cron: row.cron,
    timezone: row.timezone,
    provider: row.provider,
    action: row.action,
    job_count: row.job_count,
    created_by: row.created_by,
    created_at: row.created_at,
    runs: row.runs,
    last_run_at: row.last_run_at,
    last_run_jobs: row.last_run_jobs,
    next_run_at: next ?? null,
  };
}

/** The schedule's own fields; the rest of the body is a POST /jobs/bulk request, checked as one. */
const scheduleFields = z.object({
  name: textField(100),
  cron: textField(200).refine((v) => v.trim() !== '', 'is required (e.g. "0 6 * * 1-5")'),
  timezone: textField(64).optional(),
});

/**
 * Recurring submissions: `POST /schedules` {name, cron, timezone?, provider, action,
 * callback_url?, jobs[]} (operator), `GET /schedules` (a submitter sees only those its key
 * created), `DELETE /schedules/:id` (operator).
 */
export function schedulesRoutes(deps: SchedulesRoutesDeps): Router {
  const router = Router();
  router.get('/schedules', requirePermission('jobs:read'), noQuery, async (req, res) => {
    const owner = ownerScope(req.identity!);
    const [rows, next] = await Promise.all([listSchedules(deps.db), nextRuns(deps.maintenance)]);
    res.json({ schedules: rows.filter((r) => owner === undefined || r.created_by === owner).map((r) => scheduleView(r, next.get(r.id))) });
  });
  router.post('/schedules', requirePermission('jobs:operate'), noQuery, async (req, res) => {
    if (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body)) throw new RpaError('VALIDATION_FAILED', 'body: must be a JSON object', { field: 'body' });
    const { name: _n, cron: _c, timezone: _t, ...request } = req.body as Record<string, unknown>;
    const { name, cron, timezone } = parseWith(scheduleFields, { name: _n, cron: _c, timezone: _t });
    const row = await createSchedule(deps.db, deps.maintenance, { name, cron, timezone, request, actor: req.identity!.name }, deps.callbackPolicy, { minIntervalMs: deps.minIntervalMs });
    const next = await nextRuns(deps.maintenance);
    res.status(201).json(scheduleView(row, next.get(row.id)));
  });
  router.delete('/schedules/:id', requirePermission('jobs:operate'), noQuery, async (req, res) => {
    const id = idParam(req.params.id as string);
    emptyBody(req.body);
    if (!(await deleteSchedule(deps.db, deps.maintenance, id))) throw new RpaError('NOT_FOUND', `schedule ${id} does not exist`, { field: 'id' });
    res.status(204).end();
  });
  return router;
}
