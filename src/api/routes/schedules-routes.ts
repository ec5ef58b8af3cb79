import { Router } from 'express';
import type { Queue } from 'bullmq';
import type { CallbackUrlPolicy } from '../../callbacks/callback-url-guard.js';
import type { Db } from '../../db/database.js';
import { RpaError } from '../../errors/failures.js';
import { createSchedule, deleteSchedule, listSchedules, nextRuns, type ScheduleRow } from '../../jobs/schedules.js';
import { requirePermission } from '../auth/authenticate.js';
import { idParam } from '../request-params.js';

export interface SchedulesRoutesDeps {
  db: Db;
  maintenance: Queue;
  callbackPolicy: CallbackUrlPolicy;
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

/**
 * Recurring submissions: `POST /schedules` {name, cron, timezone?, provider, action,
 * callback_url?, jobs[]} (operator), `GET /schedules`, `DELETE /schedules/:id` (operator).
 */
export function schedulesRoutes(deps: SchedulesRoutesDeps): Router {
  const router = Router();
  router.get('/schedules', requirePermission('jobs:read'), async (_req, res) => {
    const [rows, next] = await Promise.all([listSchedules(deps.db), nextRuns(deps.maintenance)]);
    res.json({ schedules: rows.map((r) => scheduleView(r, next.get(r.id))) });
  });
  router.post('/schedules', requirePermission('jobs:operate'), async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const { name, cron, timezone, ...request } = body;
    if (typeof name !== 'string') throw new RpaError('VALIDATION_FAILED', 'name: required', { field: 'name' });
    if (typeof cron !== 'string' || cron.trim() === '') throw new RpaError('VALIDATION_FAILED', 'cron: required (e.g. "0 6 * * 1-5")', { field: 'cron' });
    if (timezone !== undefined && typeof timezone !== 'string') throw new RpaError('VALIDATION_FAILED', 'timezone: must be a string', { field: 'timezone' });
    const row = await createSchedule(deps.db, deps.maintenance, { name, cron, timezone, request, actor: req.identity!.name }, deps.callbackPolicy);
    const next = await nextRuns(deps.maintenance);
    res.status(201).json(scheduleView(row, next.get(row.id)));
  });
  router.delete('/schedules/:id', requirePermission('jobs:operate'), async (req, res) => {
    const id = idParam(req.params.id as string);
    if (!(await deleteSchedule(deps.db, deps.maintenance, id))) throw new RpaError('NOT_FOUND', `schedule ${id} does not exist`, { field: 'id' });
    res.status(204).end();
  });
  return router;
}
