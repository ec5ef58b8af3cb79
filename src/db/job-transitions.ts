import { sql } from 'kysely';
import type { Db } from './database.js';
import { appendJobEvents } from './event-store.js';
import type { JobRow } from './job-store.js';
import type { JobError } from './schema.js';

/**
 * Every change of a job's status inside a batch, each a conditional UPDATE plus its event in
 * one transaction. The conditions (batch_id, status) make each transition happen at most
 * once, whichever process runs it, which is what keeps a re-run batch from redoing work.
 */

export interface QueuedCandidate {
  jobId: string;
  trip: number;
}

/**
 * Creates a batch and makes it the owner of the candidates that are still waiting for one
 * (pending, in no batch, on the same queue trip). Returns the batch id and its members, or
 * undefined when no candidate was eligible (nothing is written then).
 */
export async function createBatchWithJobs(db: Db, provider: string, candidates: QueuedCandidate[], actor: string): Promise<{ batchId: string; jobIds: string[] } | undefined> {
  if (candidates.length === 0) return undefined;
  return db.transaction().execute(async (trx) => {
    const batch = await trx.insertInto('batches').values({ provider, size: candidates.length }).returning('id').executeTakeFirstOrThrow();
    const { rows } = await sql<{ id: string }>`
      UPDATE jobs SET batch_id = ${batch.id}, updated_at = now()
      FROM unnest(${candidates.map((c) => c.jobId)}::bigint[], ${candidates.map((c) => c.trip)}::int[]) AS c(id, trip)
      WHERE jobs.id = c.id AND jobs.queue_trip = c.trip AND jobs.status = 'pending' AND jobs.batch_id IS NULL AND jobs.provider = ${provider}
      RETURNING jobs.id
    `.execute(trx);
    if (rows.length === 0) {
      await trx.deleteFrom('batches').where('id', '=', batch.id).execute();
      return undefined;
    }
    const order = new Map(candidates.map((c, i) => [c.jobId, i]));
    const jobIds = rows.map((r) => r.id).sort((a, b) => order.get(a)! - order.get(b)!);
    if (jobIds.length !== candidates.length) await trx.updateTable('batches').set({ size: jobIds.length }).where('id', '=', batch.id).execute();
    await sql`
      INSERT INTO batch_jobs (batch_id, job_id, position, attempt)
      SELECT ${batch.id}, j.id, j.ord - 1, jobs.attempts
      FROM unnest(${jobIds}::bigint[]) WITH ORDINALITY AS j(id, ord) JOIN jobs ON jobs.id = j.id
    `.execute(trx);
    await appendJobEvents(trx, { jobIds, from: 'pending', to: 'pending', cause: `assigned to batch ${batch.id}`, actor, batchId: batch.id });
    return { batchId: batch.id, jobIds };
  });
}

/** The batch's jobs that still have work to do, in batch order. */
export async function unfinishedMembers(db: Db, batchId: string): Promise<JobRow[]> {
  return db
    .selectFrom('jobs')
    .innerJoin('batch_jobs', (join) => join.onRef('batch_jobs.job_id', '=', 'jobs.id').on('batch_jobs.batch_id', '=', batchId))
    .selectAll('jobs')
    .where('jobs.batch_id', '=', batchId)
    .where('jobs.status', 'in', ['pending', 'running'])
    .orderBy('batch_jobs.position')
    .execute();
}

export async function markBatchInProgress(db: Db, batchId: string, worker: string): Promise<void> {
  await db
    .updateTable('batches')
    .set({ status: 'in_progress', worker, started_at: sql`coalesce(started_at, now())`, updated_at: new Date() })
    .where('id', '=', batchId)
    .where('status', 'in', ['created', 'assigned', 'in_progress'])
    .execute();
}

export async function addBatchLogins(db: Db, batchId: string, logins: number): Promise<void> {
  if (logins <= 0) return;
  await db.updateTable('batches').set({ login_count: sql`login_count + ${logins}`, updated_at: new Date() }).where('id', '=', batchId).execute();
}

/**
 * pending → running, counting an attempt. A job found already running in this batch was
 * started by an earlier run that died: it carries on without a second count (`resumed`).
 */
export async function startJob(db: Db, jobId: string, batchId: string, actor: string): Promise<{ job: JobRow; resumed: boolean } | undefined> {
  return db.transaction().execute(async (trx) => {
    const started = await trx
      .updateTable('jobs')
      .set({ status: 'running', attempts: sql`attempts + 1`, started_at: new Date(), updated_at: new Date() })
      .where('id', '=', jobId)
      .where('batch_id', '=', batchId)
      .where('status', '=', 'pending')
      .returningAll()
      .executeTakeFirst();
    if (started) {
      await appendJobEvents(trx, { jobIds: [jobId], from: 'pending', to: 'running', cause: `attempt ${started.attempts} of ${started.max_attempts}`, actor, batchId });
      return { job: started, resumed: false };
    }
    const running = await trx.selectFrom('jobs').selectAll().where('id', '=', jobId).where('batch_id', '=', batchId).where('status', '=', 'running').executeTakeFirst();
    return running ? { job: running, resumed: true } : undefined;
  });
}

export interface JobEnd {
  status: 'completed' | 'failed';
  result?: Record<string, unknown> | null;
  error?: JobError | null;
  evidence: string[];
  cause: string;
}

/** running → completed | failed, once. Returns false when another run already ended it. */
export async function finishJob(db: Db, jobId: string, batchId: string, end: JobEnd, actor: string): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable('jobs')
      .set({
        status: end.status,
        result: end.result === undefined || end.result === null ? null : JSON.stringify(end.result),
        error: end.error ? JSON.stringify(end.error) : null,
        evidence: sql`evidence || ${JSON.stringify(end.evidence)}::jsonb`,
        completed_at: new Date(),
        updated_at: new Date(),
      })
      .where('id', '=', jobId)
      .where('batch_id', '=', batchId)
      .where('status', '=', 'running')
      .returning('id')
      .executeTakeFirst();
    if (!row) return false;
    const counter = end.status === 'completed' ? 'completed_count' : 'failed_count';
    await trx.updateTable('batches').set({ [counter]: sql`${sql.ref(counter)} + 1`, updated_at: new Date() }).where('id', '=', batchId).execute();
    await appendJobEvents(trx, { jobIds: [jobId], from: 'running', to: end.status, cause: end.cause, actor, batchId, details: end.error ? { ...end.error } : undefined });
    return true;
  });
}

/**
 * Hands jobs of a batch back to wait for a later batch (a passing failure, a refused login, a
 * paused provider, a batch that could not run): pending again, in no batch, on a new queue
 * trip, not before `availableAt`. Attempts already counted stay counted. Returns the jobs
 * handed back, with their new trip, for enqueueing.
 */
export async function returnJobs(
  db: Db,
  batchId: string,
  jobIds: string[],
  options: { availableAt: Date; cause: string; actor: string; error?: JobError; evidence?: string[] },
): Promise<{ id: string; trip: number }[]> {
  if (jobIds.length === 0) return [];
  return db.transaction().execute(async (trx) => {
    const before = await trx.selectFrom('jobs').select(['id', 'status']).where('id', 'in', jobIds).where('batch_id', '=', batchId).where('status', 'in', ['pending', 'running']).execute();
    if (before.length === 0) return [];
    const rows = await trx
      .updateTable('jobs')
      .set({
        status: 'pending',
        batch_id: null,
        queue_trip: sql`queue_trip + 1`,
        available_at: options.availableAt,
        enqueued_at: null,
        error: options.error ? JSON.stringify(options.error) : sql`error`,
        evidence: sql`evidence || ${JSON.stringify(options.evidence ?? [])}::jsonb`,
        updated_at: new Date(),
      })
      .where('id', 'in', before.map((b) => b.id))
      .where('batch_id', '=', batchId)
      .where('status', 'in', ['pending', 'running'])
      .returning(['id', 'queue_trip'])
      .execute();
    await trx.updateTable('batches').set({ returned_count: sql`returned_count + ${rows.length}`, updated_at: new Date() }).where('id', '=', batchId).execute();
    for (const status of ['pending', 'running'] as const) {
      const ids = before.filter((b) => b.status === status && rows.some((r) => r.id === b.id)).map((b) => b.id);
      await appendJobEvents(trx, { jobIds: ids, from: status, to: 'pending', cause: options.cause, actor: options.actor, batchId, details: options.error ? { ...options.error } : undefined });
    }
    return rows.map((r) => ({ id: r.id, trip: r.queue_trip }));
  });
}

/**
 * pending → cancelled: an operator withdraws a job that has not started (POST /jobs/:id/cancel).
 * Returns the job, or undefined when it was not pending (started, ended, or no such job).
 */
export async function withdrawJob(db: Db, jobId: string, actor: string): Promise<JobRow | undefined> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable('jobs')
      .set({ status: 'cancelled', completed_at: new Date(), updated_at: new Date(), error: JSON.stringify({ code: 'WITHDRAWN', message: `withdrawn by ${actor}` }) })
      .where('id', '=', jobId)
      .where('status', '=', 'pending')
      .returningAll()
      .executeTakeFirst();
    if (row) await appendJobEvents(trx, { jobIds: [jobId], from: 'pending', to: 'cancelled', cause: 'withdrawn by operator', actor, batchId: row.batch_id });
    return row;
  });
}

/** Ends a batch: completed when it ran to its end, failed with the reason otherwise. */
export async function closeBatch(db: Db, batchId: string, status: 'completed' | 'failed', error?: JobError): Promise<void> {
  await db
    .updateTable('batches')
    .set({ status, error: error ? JSON.stringify(error) : null, finished_at: new Date(), updated_at: new Date() })
    .where('id', '=', batchId)
    .where('status', 'not in', ['completed', 'failed'])
    .execute();
}

/** Records that a cancellation is about to be submitted; on a re-run it says "read first". */
export async function recordCancellationIntent(db: Db, job: JobRow, batchId: string): Promise<{ earlier: boolean }> {
  const inserted = await db
    .insertInto('cancellation_intents')
    .values({ job_id: job.id, provider: job.provider, circuit_number: job.circuit_number, batch_id: batchId, attempt: job.attempts, state: 'intended' })
    .onConflict((oc) => oc.column('job_id').doUpdateSet({ batch_id: batchId, attempt: job.attempts, updated_at: new Date() }))
    .returning(sql<boolean>`(xmax = 0)`.as('fresh'))
    .executeTakeFirstOrThrow();
  return { earlier: !inserted.fresh };
}

export async function completeCancellationIntent(db: Db, jobId: string, reference: string | null): Promise<void> {
  await db.updateTable('cancellation_intents').set({ state: 'done', reference, updated_at: new Date() }).where('job_id', '=', jobId).execute();
}
