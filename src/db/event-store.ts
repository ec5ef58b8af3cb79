import { sql } from 'kysely';
import { eventDigest, type EventRecord } from '../evidence/audit-records.js';
import { appendAudit, lockChains } from './audit-store.js';
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

/**
 * Appends one event per job (same transition) in a single statement, and puts each on its
 * job's audit chain in the same transaction (audit-store.ts: the job rows are locked, so two
 * appends for one job take turns). Call it inside the transition's transaction; alone, it opens one.
 */
export async function appendJobEvents(db: Db, event: JobEventInput): Promise<void> {
  if (event.jobIds.length === 0) return;
  if (!db.isTransaction) return db.transaction().execute((trx) => appendJobEvents(trx, event));
  const tails = await lockChains(db, event.jobIds);
  const { rows } = await sql<EventRecord>`
    INSERT INTO job_events (job_id, from_status, to_status, cause, actor, batch_id, details)
    SELECT unnest(${event.jobIds}::bigint[]), ${event.from}, ${event.to}, ${event.cause}, ${event.actor},
           ${event.batchId ?? null}::bigint, ${event.details ? JSON.stringify(event.details) : null}::jsonb
    RETURNING id, job_id, at, from_status, to_status, cause, actor, batch_id, details
  `.execute(db);
  rows.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
  await appendAudit(db, tails, rows.map((r) => ({ jobId: r.job_id, kind: 'event' as const, refId: r.id, sha256: eventDigest(r) })));
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

/** Events by id (the rows an audit chain's event entries stand for). */
export async function findJobEventsByIds(db: Db, jobId: string, ids: readonly string[]) {
  if (ids.length === 0) return [];
  return db.selectFrom('job_events').selectAll().where('job_id', '=', jobId).where('id', 'in', [...ids]).execute();
}
