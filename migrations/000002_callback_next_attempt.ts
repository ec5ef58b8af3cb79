import { sql, type Kysely } from 'kysely';

/** When a pending callback will be tried again (null when none is scheduled), shown by GET /jobs/:id. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE callback_deliveries ADD COLUMN next_attempt_at timestamptz`.execute(db);
}
