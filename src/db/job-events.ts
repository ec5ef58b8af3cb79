import { sql } from 'kysely';
import type { Db } from './database.js';
import type { JobStatus } from './schema.js';

export interface JobEventInput {
  jobIds: string[];
  from: JobStatus | null;
  to: JobStatus;
  cause: string;
  actor: string;
  batchId?: string | null;
  details?: Record<string, unknown>;
}

/** Appends one event per job (same transition) in a single statement. */
export async function appendJobEvents(db: Db, event: JobEventInput): Promise<void> {
  if (event.jobIds.length === 0) return;
  await sql`
    INSERT INTO job_events (job_id, from_status, to_status, cause, actor, batch_id, details)
    SELECT unnest(${event.jobIds}::bigint[]), ${event.from}, ${event.to}, ${event.cause}, ${event.actor},
           ${event.batchId ?? null}::bigint, ${event.details ? JSON.stringify(event.details) : null}::jsonb
  `.execute(db);
}

export async function listJobEvents(db: Db, jobId: string) {
  return db.selectFrom('job_events').selectAll().where('job_id', '=', jobId).orderBy('id').execute();
}
