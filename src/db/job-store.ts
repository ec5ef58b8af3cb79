import { sql, type Selectable } from 'kysely';
import type { Db } from './database.js';
import { JOB_PRIORITIES, type JobAction, type JobParameters, type JobPriority, type JobStatus, type JobsTable } from './schema.js';

export type JobRow = Selectable<JobsTable>;

export interface NewJob {
  provider: string;
  action: JobAction;
  parameters: JobParameters;
  callbackUrl: string | null;
  externalId: string | null;
  requestHash: string;
  submittedBy: string | null;
  maxAttempts: number;
}

/**
 * Inserts many jobs in one statement (column arrays through unnest: one parameter per
 * column, so 10,000 rows stay far below Postgres' parameter limit). Returns ids in input order.
 */
export async function insertJobs(db: Db, jobs: NewJob[]): Promise<string[]> {
  if (jobs.length === 0) return [];
  const col = <T>(pick: (j: NewJob) => T) => jobs.map(pick);
  const { rows } = await sql<{ id: string }>`
    INSERT INTO jobs (provider, action, circuit_number, parameters, callback_url, external_id, request_hash, submitted_by, max_attempts)
    SELECT provider, action, circuit_number, parameters, callback_url, external_id, request_hash, submitted_by, max_attempts FROM unnest(
      ${col((j) => j.provider)}::text[], ${col((j) => j.action)}::text[], ${col((j) => j.parameters.circuit_number)}::text[],
      ${col((j) => JSON.stringify(j.parameters))}::jsonb[], ${col((j) => j.callbackUrl)}::text[], ${col((j) => j.externalId)}::text[],
      ${col((j) => j.requestHash)}::text[], ${col((j) => j.submittedBy)}::text[], ${col((j) => j.maxAttempts)}::int[]
    ) WITH ORDINALITY AS t(provider, action, circuit_number, parameters, callback_url, external_id, request_hash, submitted_by, max_attempts, ord)
    ORDER BY ord
    RETURNING id
  `.execute(db);
  return rows.map((r) => r.id);
}

export async function findJob(db: Db, id: string): Promise<JobRow | undefined> {
  return db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findJobsByExternalIds(db: Db, provider: string, externalIds: string[]) {
  if (externalIds.length === 0) return [];
  return db
    .selectFrom('jobs')
    .select(['id', 'external_id', 'request_hash', 'submitted_by'])
    .where('provider', '=', provider)
    .where('external_id', 'in', externalIds)
    .execute();
}

export interface JobListFilter {
  status?: JobStatus;
  provider?: string;
  action?: JobAction;
  /** Submitted at or after. */
  since?: Date;
  batchId?: string;
  /** Only the jobs this key submitted (jobs.submitted_by): what a submitter sees. */
  submittedBy?: string;
  /** Only ids below this one (the cursor of the previous page). */
  beforeId?: string;
  limit: number;
}

/** Newest first, keyset-paginated on id. */
export async function listJobs(db: Db, filter: JobListFilter): Promise<JobRow[]> {
  let query = db.selectFrom('jobs').selectAll().orderBy('id', 'desc').limit(filter.limit);
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.provider) query = query.where('provider', '=', filter.provider);
  if (filter.action) query = query.where('action', '=', filter.action);
  if (filter.since) query = query.where('created_at', '>=', filter.since);
  if (filter.batchId) query = query.where('batch_id', '=', filter.batchId);
  if (filter.submittedBy !== undefined) query = query.where('submitted_by', '=', filter.submittedBy);
  if (filter.beforeId) query = query.where('id', '<', filter.beforeId);
  return query.execute();
}

/** Marks jobs as handed to their provider queue. */
export async function markEnqueued(db: Db, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  // One array parameter, not one per id: a bulk submission marks 10,000 jobs at once.
  await db
    .updateTable('jobs')
    .set({ enqueued_at: new Date() })
    .where('id', '=', sql<string>`any(${ids}::bigint[])`)
    .execute();
}

/** Pending jobs that belong to no batch and are due: what should be on a provider queue. */
/** What the queue entries of these jobs are named after and ordered by. */
export async function jobLabels(db: Db, ids: string[]): Promise<Pick<JobRow, 'id' | 'action' | 'circuit_number' | 'parameters'>[]> {
  if (ids.length === 0) return [];
  return db.selectFrom('jobs').select(['id', 'action', 'circuit_number', 'parameters']).where('id', 'in', ids).execute();
}

export async function findJobsToEnqueue(db: Db, options: { limit: number; onlyNeverEnqueued?: boolean }) {
  let query = db
    .selectFrom('jobs')
    .select(['id', 'provider', 'queue_trip', 'available_at', 'enqueued_at', 'action', 'circuit_number', 'parameters'])
    .where('status', '=', 'pending')
    .where('batch_id', 'is', null)
    .orderBy('id')
    .limit(options.limit);
  if (options.onlyNeverEnqueued) query = query.where('enqueued_at', 'is', null);
  return query.execute();
}

/**
 * True when a job of the provider with a priority above `than` has been waiting since before
 * `waitingSince` outside the batch `batchId`: no session was free to take it, so the batch that
 * asks should make way at its next job.
 */
export async function higherPriorityWaiting(db: Db, provider: string, than: JobPriority, batchId: string, waitingSince: Date): Promise<boolean> {
  const higher = JOB_PRIORITIES.slice(0, JOB_PRIORITIES.indexOf(than));
  if (higher.length === 0) return false;
  const row = await db
    .selectFrom('jobs')
    .select('id')
    .where('provider', '=', provider)
    .where('status', '=', 'pending')
    .where(sql<string>`coalesce(parameters->>'priority', 'normal')`, 'in', higher)
    .where('available_at', '<=', waitingSince)
    .where('created_at', '<=', waitingSince)
    .where((eb) => eb.or([eb('batch_id', 'is', null), eb('batch_id', '<>', batchId)]))
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}
