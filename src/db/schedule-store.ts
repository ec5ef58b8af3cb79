import cronParser from 'cron-parser';
import type { Db } from './database.js';

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
