import cronParser from 'cron-parser';
import type { Selectable } from 'kysely';
import type { Db } from './database.js';
import type { JobAction, SchedulesTable } from './schema.js';

export type ScheduleRow = Selectable<SchedulesTable>;

export interface NewScheduleRow {
  name: string;
  cron: string;
  timezone: string;
  provider: string;
  action: JobAction;
  request: Record<string, unknown>;
  jobCount: number;
  createdBy: string;
}

export async function findScheduleIdByName(db: Db, name: string): Promise<string | undefined> {
  return (await db.selectFrom('schedules').select('id').where('name', '=', name).executeTakeFirst())?.id;
}

export async function insertSchedule(db: Db, s: NewScheduleRow): Promise<ScheduleRow> {
  return db
    .insertInto('schedules')
    .values({ name: s.name, cron: s.cron, timezone: s.timezone, provider: s.provider, action: s.action, request: JSON.stringify(s.request), job_count: s.jobCount, created_by: s.createdBy })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function findSchedule(db: Db, id: string): Promise<ScheduleRow | undefined> {
  return db.selectFrom('schedules').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listSchedules(db: Db): Promise<ScheduleRow[]> {
  return db.selectFrom('schedules').selectAll().orderBy('id').execute();
}

/** False when there was no such schedule. */
export async function deleteScheduleRow(db: Db, id: string): Promise<boolean> {
  return (await db.deleteFrom('schedules').where('id', '=', id).returning('id').executeTakeFirst()) !== undefined;
}

export async function recordScheduleRun(db: Db, id: string, jobs: number): Promise<void> {
  await db
    .updateTable('schedules')
    .set((eb) => ({ runs: eb('runs', '+', 1), last_run_at: new Date(), last_run_jobs: jobs }))
    .where('id', '=', id)
    .execute();
}

// cron-parser is CommonJS: its functions hang off the default export. It is the parser BullMQ's
// job schedulers run the schedules with (the same version), so the times agree with theirs.
const { parseExpression } = cronParser;

/** The next run of one schedule. */
export interface ScheduleRun {
  scheduleId: string;
  at: Date;
  /** Jobs each run submits (the stored list's length). */
  jobCount: number;
}

/**
 * The next run after `from` of every schedule whose next run falls before `until`, from the
 * `schedules` table's `cron` and `timezone` (read only). A schedule whose expression does not
 * parse (BullMQ refused it when it was created, so it never runs) is left out. Soonest first.
 */
export async function nextScheduleRuns(db: Db, from: Date, until: Date): Promise<ScheduleRun[]> {
  const rows = await db.selectFrom('schedules').select(['id', 'cron', 'timezone', 'job_count']).execute();
  const runs: ScheduleRun[] = [];
  for (const row of rows) {
    let at: Date;
    try {
      at = parseExpression(row.cron, { currentDate: from, tz: row.timezone }).next().toDate();
    } catch {
      continue;
    }
    if (at.getTime() <= until.getTime()) runs.push({ scheduleId: String(row.id), at, jobCount: row.job_count });
  }
  return runs.sort((a, b) => a.at.getTime() - b.at.getTime());
}
