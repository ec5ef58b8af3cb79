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

/** The newest event id (the start of a feed) and the database's clock. */
export async function latestEventId(db: Db): Promise<{ last: string; now: Date }> {
  const { rows } = await sql<{ last: string | null; now: Date }>`SELECT (SELECT max(id) FROM job_events)::text AS last, now() AS now`.execute(db);
  return { last: rows[0]!.last ?? '0', now: rows[0]!.now };
}

/** Events after `afterId`, oldest first, with their job's provider, action and submitter. */
export async function eventsAfter(db: Db, afterId: string, limit: number) {
  return db
    .selectFrom('job_events')
    .innerJoin('jobs', 'jobs.id', 'job_events.job_id')
    .select(['job_events.id', 'job_events.job_id', 'job_events.at', 'job_events.from_status', 'job_events.to_status', 'job_events.cause', 'job_events.actor', 'job_events.batch_id', 'jobs.provider', 'jobs.action', 'jobs.submitted_by'])
    .where('job_events.id', '>', afterId)
    .orderBy('job_events.id')
    .limit(limit)
    .execute();
}
