import { sql } from 'kysely';
import type { Db } from './database.js';
import type { EvidenceItem } from '../evidence/evidence-item.js';
import { appendJobEvents } from './event-store.js';
import { recordEvidence } from './evidence-metadata-store.js';
import type { JobRow } from './job-store.js';
import { RpaError } from '../errors/failures.js';
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

/** A run's hold on its batch: the fencing token every transition of the run is checked against. */
export interface RunHold {
  batchId: string;
  token: number;
}

const superseded = (hold: RunHold) =>
  new RpaError('RUN_SUPERSEDED', `batch ${hold.batchId}: another run holds it now (this run had token ${hold.token}); this run stops`);

/** True when `hold` is still the batch's current run. */
const holds = (hold: RunHold) => sql<boolean>`EXISTS (SELECT 1 FROM batches b WHERE b.id = ${hold.batchId} AND b.run_token = ${hold.token})`;

/**
 * A runner takes the batch: its run token goes up by one, so whatever an earlier runner (dead,
 * frozen, cut off from Valkey) still tries is refused from here on. Undefined when the batch
 * has ended.
 */
export async function claimBatchRun(db: Db, batchId: string, worker: string, options: { stampStart?: boolean } = {}): Promise<RunHold | undefined> {
  const started = options.stampStart === false ? {} : { started_at: sql<Date>`coalesce(started_at, now())` };
  const row = await db
    .updateTable('batches')
    .set({ status: 'in_progress', worker, run_token: sql`run_token + 1`, heartbeat_at: new Date(), ...started, updated_at: new Date() })
    .where('id', '=', batchId)
    .where('status', 'in', ['created', 'assigned', 'in_progress'])
    .returning('run_token')
    .executeTakeFirst();
  return row ? { batchId, token: row.run_token } : undefined;
}

/** The run begins its work (a lease and a login): the batch's started_at, kept from its first run. */
export async function markBatchStarted(db: Db, hold: RunHold): Promise<void> {
  await db.updateTable('batches').set({ started_at: sql`coalesce(started_at, now())` }).where('id', '=', hold.batchId).where('run_token', '=', hold.token).execute();
}

/** The run says it is alive; false when another run holds the batch (or it has ended). */
export async function heartbeatRun(db: Db, hold: RunHold): Promise<boolean> {
  const result = await db
    .updateTable('batches')
    .set({ heartbeat_at: new Date() })
    .where('id', '=', hold.batchId)
    .where('run_token', '=', hold.token)
    .where('status', '=', 'in_progress')
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Takes the batch from whichever run holds it (finaliser, reaper): that run touches nothing more. */
export async function fenceBatch(db: Db, batchId: string): Promise<RunHold | undefined> {
  const row = await db.updateTable('batches').set({ run_token: sql`run_token + 1`, updated_at: new Date() }).where('id', '=', batchId).returning('run_token').executeTakeFirst();
  return row ? { batchId, token: row.run_token } : undefined;
}

/** The batch's current run (whoever holds it, if anyone). */
export async function currentRun(db: Db, batchId: string): Promise<RunHold> {
  const row = await db.selectFrom('batches').select('run_token').where('id', '=', batchId).executeTakeFirstOrThrow();
  return { batchId, token: row.run_token };
}

/** Throws RUN_SUPERSEDED unless `hold` is the batch's current run. */
export async function assertHolds(db: Db, hold: RunHold): Promise<void> {
  const row = await db.selectFrom('batches').select('run_token').where('id', '=', hold.batchId).executeTakeFirst();
  if (row?.run_token !== hold.token) throw superseded(hold);
}

export async function addBatchLogins(db: Db, batchId: string, logins: number): Promise<void> {
  if (logins <= 0) return;
  await db.updateTable('batches').set({ login_count: sql`login_count + ${logins}`, updated_at: new Date() }).where('id', '=', batchId).execute();
}

export type JobStart =
  | { kind: 'started'; job: JobRow; resumed: boolean }
  /** Withdrawn, ended or moved on: nothing to do. */
  | { kind: 'gone' }
  /** Another job for the same provider and circuit is running: this one waits for it. */
  | { kind: 'circuit-busy' }
  /** In hand each time its processor died, JOB_MAX_ATTEMPTS times: failed now (PROCESSOR_CRASHED). */
  | { kind: 'exhausted'; job: JobRow }
  /** Its deadline passed before it could start: failed now (DEADLINE_EXCEEDED) rather than run late. */
  | { kind: 'expired'; job: JobRow };

/**
 * pending → running, counting an attempt, under the run's hold. A job found running in this
 * batch was in hand when an earlier run died: that counts as an attempt too, and a job whose
 * attempts are spent fails with PROCESSOR_CRASHED instead of running again (a job that crashes
 * its processor must not loop for ever). Only one job per provider and circuit runs at a time.
 */
export async function startJob(db: Db, jobId: string, hold: RunHold, actor: string): Promise<JobStart> {
  try {
    return await db.transaction().execute(async (trx): Promise<JobStart> => {
      const job = await trx.selectFrom('jobs').selectAll().where('id', '=', jobId).forUpdate().executeTakeFirst();
      // The lock this transaction may need for the batch's counters, taken at once: two pages'
      // starts that each held a share lock and then wrote the batch would deadlock.
      const batch = await trx.selectFrom('batches').select('run_token').where('id', '=', hold.batchId).forNoKeyUpdate().executeTakeFirst();
      if (batch?.run_token !== hold.token) throw superseded(hold);
      if (!job || job.batch_id !== hold.batchId || (job.status !== 'pending' && job.status !== 'running')) return { kind: 'gone' };
      const resumed = job.status === 'running';
      const deadline = job.parameters.deadline;
      if (!resumed && deadline && Date.parse(deadline) <= Date.now()) {
        return { kind: 'expired', job: await failBeforeStart(trx, job, hold, deadlineError(deadline), actor) };
      }
      if (job.attempts >= job.max_attempts) {
        const error = { code: 'PROCESSOR_CRASHED', message: `the job was in hand when its batch processor died ${job.attempts} time(s); attempts are spent (${job.max_attempts})` };
        return { kind: 'exhausted', job: await failBeforeStart(trx, job, hold, error, actor) };
      }
      const started = await trx
        .updateTable('jobs')
        .set({ status: 'running', attempts: sql`attempts + 1`, started_at: new Date(), updated_at: new Date() })
        .where('id', '=', jobId)
        .returningAll()
        .executeTakeFirstOrThrow();
      const cause = resumed ? `attempt ${started.attempts} of ${started.max_attempts} (the run before died with it in hand)` : `attempt ${started.attempts} of ${started.max_attempts}`;
      await appendJobEvents(trx, { jobIds: [jobId], from: job.status, to: 'running', cause, actor, batchId: hold.batchId });
      return { kind: 'started', job: started, resumed };
    });
  } catch (error) {
    if ((error as { code?: string; constraint?: string }).constraint === 'jobs_one_running_per_circuit') return { kind: 'circuit-busy' };
    throw error;
  }
}

/** A job of a held batch fails without running (its deadline passed, its attempts are spent). */
async function failBeforeStart(trx: Db, job: JobRow, hold: RunHold, error: JobError, actor: string): Promise<JobRow> {
  const failed = await trx
    .updateTable('jobs')
    .set({ status: 'failed', error: JSON.stringify(error), completed_at: new Date(), updated_at: new Date() })
    .where('id', '=', job.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await trx.updateTable('batches').set({ failed_count: sql`failed_count + 1`, updated_at: new Date() }).where('id', '=', hold.batchId).execute();
  await appendJobEvents(trx, { jobIds: [job.id], from: job.status, to: 'failed', cause: error.code, actor, batchId: hold.batchId, details: { ...error } });
  return failed;
}

export interface JobEnd {
  status: 'completed' | 'failed';
  result?: Record<string, unknown> | null;
  error?: JobError | null;
  /** What the run recorded on the way (already in the evidence store): written with the end, on the job's audit chain before its event. */
  evidence: EvidenceItem[];
  cause: string;
}

/**
 * running → completed | failed, once, under the run's hold. Returns false when the job had
 * already ended; throws RUN_SUPERSEDED when another run holds the batch (its result is not ours to write).
 */
export async function finishJob(db: Db, jobId: string, hold: RunHold, end: JobEnd, actor: string): Promise<boolean> {
  const batchId = hold.batchId;
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable('jobs')
      .set({
        status: end.status,
        result: end.result === undefined || end.result === null ? null : JSON.stringify(end.result),
        error: end.error ? JSON.stringify(end.error) : null,
        completed_at: new Date(),
        updated_at: new Date(),
      })
      .where('id', '=', jobId)
      .where('batch_id', '=', batchId)
      .where('status', '=', 'running')
      .where(holds(hold))
      .returning('id')
      .executeTakeFirst();
    if (!row) {
      await assertHolds(trx, hold);
      return false;
    }
    const counter = end.status === 'completed' ? 'completed_count' : 'failed_count';
    await trx.updateTable('batches').set({ [counter]: sql`${sql.ref(counter)} + 1`, updated_at: new Date() }).where('id', '=', batchId).execute();
    await recordEvidence(trx, jobId, end.evidence);
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
  options: {
    availableAt: Date;
    cause: string;
    actor: string;
    error?: JobError;
    evidence?: EvidenceItem[];
    hold?: RunHold;
    /** The attempt it was on is given back: the provider was at fault (a changed portal), not the job. */
    refundAttempt?: boolean;
  },
): Promise<{ id: string; trip: number }[]> {
  if (jobIds.length === 0) return [];
  return db.transaction().execute(async (trx) => {
    // A run hands back only while it holds the batch; the finaliser and the reaper fence first.
    if (options.hold) {
      // Not a share lock: the batch's counters are written below, and two pages handing back at
      // once that each held a share lock would deadlock on that write.
      const batch = await trx.selectFrom('batches').select('run_token').where('id', '=', batchId).forNoKeyUpdate().executeTakeFirst();
      if (batch?.run_token !== options.hold.token) throw superseded(options.hold);
    }
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
        ...(options.refundAttempt ? { attempts: sql<number>`CASE WHEN status = 'running' THEN greatest(attempts - 1, 0) ELSE attempts END` } : {}),
        updated_at: new Date(),
      })
      .where('id', 'in', before.map((b) => b.id))
      .where('batch_id', '=', batchId)
      .where('status', 'in', ['pending', 'running'])
      .returning(['id', 'queue_trip'])
      .execute();
    await trx.updateTable('batches').set({ returned_count: sql`returned_count + ${rows.length}`, updated_at: new Date() }).where('id', '=', batchId).execute();
    // The evidence of the attempt that failed (one job handed back after a passing failure).
    for (const row of rows) await recordEvidence(trx, row.id, options.evidence ?? []);
    for (const status of ['pending', 'running'] as const) {
      const ids = before.filter((b) => b.status === status && rows.some((r) => r.id === b.id)).map((b) => b.id);
      await appendJobEvents(trx, { jobIds: ids, from: status, to: 'pending', cause: options.cause, actor: options.actor, batchId, details: options.error ? { ...options.error } : undefined });
    }
    return rows.map((r) => ({ id: r.id, trip: r.queue_trip }));
  });
}

export function deadlineError(deadline: string): JobError {
  return { code: 'DEADLINE_EXCEEDED', message: `its deadline (${deadline}) passed before it could start; it was not run late` };
}

/**
 * pending → failed (DEADLINE_EXCEEDED) for every job of the providers whose deadline has
 * passed while it waited (a paused provider, a maintenance window, a long queue), so that it
 * ends on time rather than when a batch reaches it. Jobs in a batch that has started are left
 * to their run, which fails them the same way at their turn. Returns the ids that ended.
 */
export async function expireOverdueJobs(db: Db, actor: string, now = new Date(), limit = 1_000): Promise<string[]> {
  return db.transaction().execute(async (trx) => {
    const rows = await trx
      .updateTable('jobs')
      .set({
        status: 'failed',
        error: sql`jsonb_build_object('code', 'DEADLINE_EXCEEDED', 'message', 'its deadline (' || (parameters->>'deadline') || ') passed before it could start; it was not run late')`,
        completed_at: now,
        updated_at: now,
      })
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('jobs as j')
          .select('j.id')
          .where('j.status', '=', 'pending')
          .where(sql<boolean>`j.parameters ? 'deadline'`)
          .where(sql<string>`j.parameters->>'deadline'`, '<=', now.toISOString())
          .where((w) => w.or([w('j.batch_id', 'is', null), w.not(w.exists(w.selectFrom('batches as b').select('b.id').whereRef('b.id', '=', 'j.batch_id').where('b.status', '=', 'in_progress')))]))
          .limit(limit),
      )
      .where('status', '=', 'pending')
      .returning(['id', 'batch_id', 'error'])
      .execute();
    for (const row of rows) {
      await appendJobEvents(trx, { jobIds: [row.id], from: 'pending', to: 'failed', cause: 'DEADLINE_EXCEEDED', actor, batchId: row.batch_id, details: row.error ? { ...row.error } : undefined });
    }
    return rows.map((r) => r.id);
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
