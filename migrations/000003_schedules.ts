import { sql, type Kysely } from 'kysely';

/** Recurring submissions: a list of circuits submitted on a cron expression (BullMQ job schedulers run them). */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE schedules (
      id            bigserial PRIMARY KEY,
      name          text NOT NULL UNIQUE,
      cron          text NOT NULL,
      timezone      text NOT NULL DEFAULT 'UTC',
      provider      text NOT NULL,
      action        text NOT NULL,
      request       jsonb NOT NULL,
      job_count     integer NOT NULL,
      created_by    text NOT NULL,
      created_at    timestamptz NOT NULL DEFAULT now(),
      runs          integer NOT NULL DEFAULT 0,
      last_run_at   timestamptz,
      last_run_jobs integer
    )
  `.execute(db);
}
