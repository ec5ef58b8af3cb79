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
