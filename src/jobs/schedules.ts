import type { Queue } from 'bullmq';
import type { CallbackUrlPolicy } from '../callbacks/callback-url-guard.js';
import type { Db } from '../db/database.js';
import { deleteScheduleRow, findSchedule, findScheduleIdByName, insertSchedule, listSchedules, recordScheduleRun, type ScheduleRow } from '../db/schedule-store.js';
import { RpaError } from '../errors/failures.js';
import { parseBulkRequest } from './job-request.js';
import { shortestCronGapSeconds } from './schedule-interval.js';
import type { JobSubmission } from './job-submission.js';

export { listSchedules, type ScheduleRow };

/** BullMQ job name of one run of a schedule on the maintenance queue. */
export const SCHEDULE_RUN_JOB = 'schedule-run';

export interface NewSchedule {
  name: string;
  cron: string;
  timezone?: string;
  /** The same body as POST /jobs/bulk: provider, action, optional callback_url, jobs[]. */
  request: Record<string, unknown>;
  actor: string;
}

export function schedulerId(scheduleId: string): string {
  return `schedule-${scheduleId}`;
}

/**
 * Recurring submissions. Postgres holds each schedule; a BullMQ job scheduler on the
 * maintenance queue (one per schedule) fires the runs, and each run submits the stored list
 * as ordinary jobs through JobSubmission. A bad cron expression or request changes nothing.
 */
export async function createSchedule(db: Db, maintenance: Queue, input: NewSchedule, policy: CallbackUrlPolicy, options: { minIntervalMs?: number } = {}): Promise<ScheduleRow> {
  if (!/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$/.test(input.name)) throw new RpaError('VALIDATION_FAILED', 'name: 1 to 100 letters, digits, spaces, dots, dashes or underscores', { field: 'name' });
  const timezone = input.timezone ?? 'UTC';
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone });
  } catch {
    throw new RpaError('VALIDATION_FAILED', `timezone: unknown time zone "${timezone}"`, { field: 'timezone' });
  }
  checkCronFloor(input.cron, options.minIntervalMs ?? 0);
  const requests = parseBulkRequest(input.request, policy, { forSchedule: true });
  return db.transaction().execute(async (trx) => {
    const existing = await findScheduleIdByName(trx, input.name);
    if (existing) throw new RpaError('CONFLICT', `a schedule named "${input.name}" exists (id ${existing})`, { field: 'name' });
    const row = await insertSchedule(trx, {
      name: input.name,
      cron: input.cron.trim(),
      timezone,
      provider: requests[0]!.provider,
      action: requests[0]!.action,
      request: input.request,
      jobCount: requests.length,
      createdBy: input.actor,
    });
    // Inside the transaction: a pattern BullMQ refuses rolls the row back.
    await upsertScheduler(maintenance, row).catch((error: unknown) => {
      throw new RpaError('VALIDATION_FAILED', `cron: "${input.cron}" is not a valid cron expression (${(error as Error).message})`, { field: 'cron', cause: error });
    });
    return row;
  });
}

/**
 * Refuses a cron expression that does not parse, or whose runs may come closer together than
 * `minIntervalMs` (SCHEDULE_MIN_INTERVAL_MS): no schedule fires every minute, let alone every second.
 */
export function checkCronFloor(cron: string, minIntervalMs: number): void {
  let gapS: number;
  try {
    gapS = shortestCronGapSeconds(cron.trim());
  } catch (error) {
    throw new RpaError('VALIDATION_FAILED', `cron: "${cron}" is not a valid cron expression (${(error as Error).message})`, { field: 'cron', cause: error });
  }
  if (gapS * 1_000 < minIntervalMs) {
    throw new RpaError(
      'VALIDATION_FAILED',
      `cron: "${cron}" runs as little as ${gapS} s apart; a schedule may run at most once every ${Math.round(minIntervalMs / 1_000)} s (SCHEDULE_MIN_INTERVAL_MS)`,
      { field: 'cron' },
    );
  }
}

/** Removes the schedule and its job scheduler; jobs it already created stay. */
export async function deleteSchedule(db: Db, maintenance: Queue, id: string): Promise<boolean> {
  const deleted = await deleteScheduleRow(db, id);
  await maintenance.removeJobScheduler(schedulerId(id));
  return deleted;
}

/** Next run times BullMQ has planned, by schedule id. */
export async function nextRuns(maintenance: Queue): Promise<Map<string, Date>> {
  const schedulers = await maintenance.getJobSchedulers(0, -1, true);
  const next = new Map<string, Date>();
  for (const s of schedulers) if (s.key.startsWith('schedule-') && s.next) next.set(s.key.slice('schedule-'.length), new Date(s.next));
  return next;
}

/** Makes the job schedulers match Postgres (after a Valkey wipe, or schedules deleted while it was down). */
export async function reconcileSchedulers(db: Db, maintenance: Queue): Promise<void> {
  const rows = await listSchedules(db);
  for (const row of rows) await upsertScheduler(maintenance, row);
  const wanted = new Set(rows.map((r) => schedulerId(r.id)));
  for (const s of await maintenance.getJobSchedulers(0, -1, true)) {
    if (s.key.startsWith('schedule-') && !wanted.has(s.key)) await maintenance.removeJobScheduler(s.key);
  }
}

async function upsertScheduler(maintenance: Queue, row: ScheduleRow): Promise<void> {
  await maintenance.upsertJobScheduler(
    schedulerId(row.id),
    { pattern: row.cron, tz: row.timezone },
    { name: SCHEDULE_RUN_JOB, data: { scheduleId: row.id }, opts: { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } },
  );
}

/**
 * One run: submits the stored list as ordinary jobs. `runKey` (the BullMQ job id of this run)
 * makes a retried run replay the same jobs instead of adding more. A deleted schedule runs nothing.
 */
export async function runSchedule(db: Db, submission: JobSubmission, scheduleId: string, runKey: string, policy: CallbackUrlPolicy): Promise<string[]> {
  const row = await findSchedule(db, scheduleId);
  if (!row) return [];
  const requests = parseBulkRequest(row.request, policy, { forSchedule: true });
  const outcome = await submission.submit(requests, { actor: `schedule:${row.name}`, idempotencyKey: `schedule-${row.id}-${runKey}`, itemField: 'jobs' });
  await recordScheduleRun(db, scheduleId, outcome.jobIds.length);
  return outcome.jobIds;
}
