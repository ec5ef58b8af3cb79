import { sql } from 'kysely';
import type { Db } from './database.js';
import { appendJobEvents } from './event-store.js';
import type { JobStatus } from './schema.js';

/**
 * Operator requeue: puts failed jobs, and unfinished jobs left behind by a batch that ended,
 * back to wait for a new batch. A completed or cancelled job never comes back; a job already
 * waiting (pending, in no batch) or running in a live batch is left alone, so running the same
 * requeue twice changes nothing the second time. Attempts restart at 0: the job gets its full
 * max_attempts again. Each job requeued gets one job_events row with the actor and reason.
 */

export interface RequeueOptions {
  /** Who asked (an OS user, an API key name), written to the event log. */
  actor: string;
  reason: string;
  /** Report what would happen and write nothing. */
  dryRun?: boolean;
}

export interface RequeuedJob {
  id: string;
  provider: string;
  from: JobStatus;
  /** The batch it left (null when it was in none). */
  batchId: string | null;
  /** The new queue trip (the current one on a dry run). */
  trip: number;
}

export interface SkippedJob {
  id: string;
  status: JobStatus | 'missing';
  why: string;
}

export interface RequeueResult {
  dryRun: boolean;
  requeued: RequeuedJob[];
  skipped: SkippedJob[];
}

const ENDED_BATCH = ['completed', 'failed'];

interface Candidate {
  id: string;
  provider: string;
  status: JobStatus;
  batch_id: string | null;
  batch_status: string | null;
  queue_trip: number;
}

function verdict(job: Candidate): string | undefined {
  if (job.status === 'completed') return 'completed jobs are never requeued';
  if (job.status === 'cancelled') return 'cancelled (withdrawn) jobs are never requeued';
  if (job.status === 'failed') return undefined;
  if (job.batch_id === null) return 'already waiting for a batch';
  if (!ENDED_BATCH.includes(job.batch_status ?? '')) return `its batch ${job.batch_id} is still ${job.batch_status}`;
  return undefined;
}

/** Requeues the given jobs (see the module comment for which ones come back). */
export async function requeueJobs(db: Db, jobIds: string[], options: RequeueOptions): Promise<RequeueResult> {
  const ids = [...new Set(jobIds)];
  if (ids.length === 0) return { dryRun: Boolean(options.dryRun), requeued: [], skipped: [] };
  return db.transaction().execute(async (trx) => {
    const { rows } = await sql<Candidate>`
      SELECT jobs.id, jobs.provider, jobs.status, jobs.batch_id, batches.status AS batch_status, jobs.queue_trip
      FROM jobs LEFT JOIN batches ON batches.id = jobs.batch_id
      WHERE jobs.id = ANY(${ids}::bigint[])
      ORDER BY jobs.id
      FOR UPDATE OF jobs
    `.execute(trx);
    const found = new Map(rows.map((r) => [r.id, r]));
    const skipped: SkippedJob[] = ids.filter((id) => !found.has(id)).map((id) => ({ id, status: 'missing' as const, why: 'no such job' }));
    const eligible: Candidate[] = [];
    for (const row of rows) {
      const why = verdict(row);
      if (why) skipped.push({ id: row.id, status: row.status, why });
      else eligible.push(row);
    }
    if (options.dryRun || eligible.length === 0) {
      return { dryRun: Boolean(options.dryRun), requeued: eligible.map((c) => ({ id: c.id, provider: c.provider, from: c.status, batchId: c.batch_id, trip: c.queue_trip })), skipped };
    }
    const updated = await trx
      .updateTable('jobs')
      .set({
        status: 'pending',
        batch_id: null,
        attempts: 0,
        queue_trip: sql`queue_trip + 1`,
        available_at: new Date(),
        enqueued_at: null,
        started_at: null,
        completed_at: null,
        updated_at: new Date(),
      })
      .where('id', 'in', eligible.map((c) => c.id))
      .returning(['id', 'queue_trip'])
      .execute();
    const trips = new Map(updated.map((u) => [u.id, u.queue_trip]));
    // Unfinished members leave their ended batch the way returnJobs does: counted as returned.
    const leftBatches = new Map<string, number>();
    for (const c of eligible) if (c.status !== 'failed' && c.batch_id) leftBatches.set(c.batch_id, (leftBatches.get(c.batch_id) ?? 0) + 1);
    for (const [batchId, n] of leftBatches) {
      await trx.updateTable('batches').set({ returned_count: sql`returned_count + ${n}`, updated_at: new Date() }).where('id', '=', batchId).execute();
    }
    const cause = `requeued by operator: ${options.reason}`;
    const groups = new Map<string, Candidate[]>();
    for (const c of eligible) {
      const key = `${c.status}|${c.batch_id ?? ''}`;
      groups.set(key, [...(groups.get(key) ?? []), c]);
    }
    for (const group of groups.values()) {
      await appendJobEvents(trx, {
        jobIds: group.map((c) => c.id),
        from: group[0]!.status,
        to: 'pending',
        cause,
        actor: options.actor,
        batchId: group[0]!.batch_id,
        details: { requeue: true, attempts_reset: true },
      });
    }
    return { dryRun: false, requeued: eligible.map((c) => ({ id: c.id, provider: c.provider, from: c.status, batchId: c.batch_id, trip: trips.get(c.id)! })), skipped };
  });
}

/**
 * The jobs a batch requeue looks at: the members still attached to the batch (failed ones stay
 * attached; ones the batch already handed back have moved on and are not its business).
 */
export async function batchRequeueCandidates(db: Db, batchIds: string[]): Promise<string[]> {
  if (batchIds.length === 0) return [];
  const rows = await db
    .selectFrom('batch_jobs')
    .innerJoin('jobs', (join) => join.onRef('jobs.id', '=', 'batch_jobs.job_id').onRef('jobs.batch_id', '=', 'batch_jobs.batch_id'))
    .select('jobs.id')
    .where('batch_jobs.batch_id', 'in', batchIds)
    .orderBy('jobs.id')
    .execute();
  return rows.map((r) => r.id);
}

/** Batches matching `--failed [--provider] [--since]`. */
export async function findFailedBatchIds(db: Db, filter: { provider?: string; since?: Date }): Promise<string[]> {
  let query = db.selectFrom('batches').select('id').where('status', '=', 'failed').orderBy('id');
  if (filter.provider) query = query.where('provider', '=', filter.provider);
  if (filter.since) query = query.where('created_at', '>=', filter.since);
  return (await query.execute()).map((r) => r.id);
}
