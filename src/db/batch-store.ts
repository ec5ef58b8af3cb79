import { sql, type Selectable } from 'kysely';
import type { Db } from './database.js';
import type { BatchesTable, BatchStatus, JobError } from './schema.js';

export type BatchRow = Selectable<BatchesTable>;

export interface BatchListFilter {
  status?: BatchStatus;
  provider?: string;
  since?: Date;
  beforeId?: string;
  limit: number;
}

export async function listBatches(db: Db, filter: BatchListFilter): Promise<BatchRow[]> {
  let query = db.selectFrom('batches').selectAll().orderBy('id', 'desc').limit(filter.limit);
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.provider) query = query.where('provider', '=', filter.provider);
  if (filter.since) query = query.where('created_at', '>=', filter.since);
  if (filter.beforeId) query = query.where('id', '<', filter.beforeId);
  return query.execute();
}

export async function listActiveBatches(db: Db): Promise<BatchRow[]> {
  return db.selectFrom('batches').selectAll().where('status', 'in', ['created', 'assigned', 'in_progress']).orderBy('id').execute();
}

export async function findBatch(db: Db, id: string): Promise<BatchRow | undefined> {
  return db.selectFrom('batches').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The jobs that were members of a batch, in batch order, with their current state. */
export async function findBatchMembers(db: Db, batchId: string) {
  return db
    .selectFrom('batch_jobs')
    .innerJoin('jobs', 'jobs.id', 'batch_jobs.job_id')
    .select([
      'jobs.id',
      'jobs.action',
      'jobs.circuit_number',
      'jobs.status',
      'jobs.batch_id',
      'jobs.attempts',
      'jobs.result',
      'jobs.error',
      'batch_jobs.position',
      'batch_jobs.attempt',
    ])
    .where('batch_jobs.batch_id', '=', batchId)
    .orderBy('batch_jobs.position')
    .execute();
}

/** Finished members / size, as shown to operators ("25/50"). */
export function batchProgress(batch: Pick<BatchRow, 'completed_count' | 'failed_count' | 'returned_count' | 'size'>): string {
  return `${batch.completed_count + batch.failed_count + batch.returned_count}/${batch.size}`;
}

/** The batch's members that have ended (their callbacks are due). */
export async function endedMembers(db: Db, batchId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('batch_jobs')
    .innerJoin('jobs', 'jobs.id', 'batch_jobs.job_id')
    .select('jobs.id')
    .where('batch_jobs.batch_id', '=', batchId)
    .where('jobs.batch_id', '=', batchId)
    .where('jobs.status', 'in', ['completed', 'failed', 'cancelled'])
    .execute();
  return rows.map((r) => r.id);
}

/** Why a batch failed (its login, its run), shown with the batch. */
export async function recordBatchError(db: Db, batchId: string, error: JobError): Promise<void> {
  await db.updateTable('batches').set({ error: JSON.stringify(error), updated_at: new Date() }).where('id', '=', batchId).execute();
}

/** Batches of `provider` written to Postgres before `before` whose run was never put on a queue. */
export async function staleCreatedBatches(db: Db, provider: string, before: Date, limit = 100): Promise<string[]> {
  const rows = await db.selectFrom('batches').select('id').where('provider', '=', provider).where('status', '=', 'created').where('created_at', '<', before).limit(limit).execute();
  return rows.map((r) => r.id);
}

/** The status of every batch that has not ended. */
export async function unfinishedBatchStatuses(db: Db): Promise<{ id: string; status: BatchStatus }[]> {
  return db.selectFrom('batches').select(['id', 'status']).where('status', 'not in', ['completed', 'failed']).execute();
}

/** Batches changed since `since`, and the database's clock when they were read. */
export async function batchesChangedSince(db: Db, since: Date): Promise<{ rows: BatchRow[]; now: Date }> {
  const { rows: clock } = await sql<{ now: Date }>`SELECT now() AS now`.execute(db);
  const rows = await db.selectFrom('batches').selectAll().where('updated_at', '>=', since).orderBy('id').execute();
  return { rows, now: clock[0]!.now };
}

/** Unfinished batches whose run has not said it is alive since `before` (or was never claimed since). */
export async function quietBatches(db: Db, before: Date, limit = 100): Promise<BatchRow[]> {
  return db
    .selectFrom('batches')
    .selectAll()
    .where('status', 'in', ['assigned', 'in_progress'])
    .where(sql<boolean>`coalesce(heartbeat_at, updated_at) < ${before}`)
    .orderBy('id')
    .limit(limit)
    .execute();
}

/** Jobs still attached to a batch that has ended (a run that died between its last step and the end). */
export async function strandedJobs(db: Db, limit = 500): Promise<{ id: string; batch_id: string; provider: string }[]> {
  const rows = await db
    .selectFrom('jobs')
    .innerJoin('batches', 'batches.id', 'jobs.batch_id')
    .select(['jobs.id', 'jobs.batch_id', 'jobs.provider'])
    .where('jobs.status', 'in', ['pending', 'running'])
    .where('batches.status', 'in', ['completed', 'failed'])
    .limit(limit)
    .execute();
  return rows.map((r) => ({ id: r.id, batch_id: r.batch_id!, provider: r.provider }));
}

/**
 * Batches of `provider` that hold or will soon hold a portal session: written and not yet ended
 * (created, assigned, in progress). What the batcher counts against `<P>_MAX_SESSIONS`.
 */
export async function unfinishedBatchCount(db: Db, provider: string): Promise<number> {
  const row = await db
    .selectFrom('batches')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('provider', '=', provider)
    .where('status', 'in', ['created', 'assigned', 'in_progress'])
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** How long a provider's batches take, as measured: the login (and lease) before the first job, and each job. */
export interface ProviderPace {
  loginMs: number;
  perJobMs: number;
  /** How many finished jobs the numbers come from (0: the defaults). */
  samples: number;
}

/** Until a provider has finished jobs of its own: a slow single sign-on and a slow portal. */
const DEFAULT_PACE: ProviderPace = { loginMs: 30_000, perJobMs: 15_000, samples: 0 };

/**
 * A provider's pace from its last 200 finished jobs and last 20 finished batches: the mean job
 * time, and the mean of what a batch took beyond its jobs (lease, login, logout), its jobs run
 * `pages` at once (rounds of the mean job time).
 */
export async function providerPace(db: Db, provider: string, pages = 1): Promise<ProviderPace> {
  const jobs = await sql<{ mean_ms: number | null; n: number }>`
    SELECT avg(extract(epoch FROM completed_at - started_at) * 1000)::float8 AS mean_ms, count(*)::int AS n
    FROM (SELECT completed_at, started_at FROM jobs
          WHERE provider = ${provider} AND status IN ('completed', 'failed') AND started_at IS NOT NULL AND completed_at > started_at
          ORDER BY completed_at DESC LIMIT 200) recent
  `.execute(db);
  const { mean_ms: perJob, n } = jobs.rows[0] ?? { mean_ms: null, n: 0 };
  if (perJob === null || n === 0) return DEFAULT_PACE;
  const batches = await sql<{ overhead_ms: number | null }>`
    SELECT avg(greatest(0, extract(epoch FROM finished_at - started_at) * 1000 - ceil((completed_count + failed_count)::float8 / ${Math.max(1, Math.floor(pages))}) * ${perJob}::float8))::float8 AS overhead_ms
    FROM (SELECT finished_at, started_at, completed_count, failed_count FROM batches
          WHERE provider = ${provider} AND status IN ('completed', 'failed') AND started_at IS NOT NULL AND finished_at IS NOT NULL AND completed_count + failed_count > 0
          ORDER BY finished_at DESC LIMIT 20) recent
  `.execute(db);
  return { loginMs: Math.round(batches.rows[0]?.overhead_ms ?? DEFAULT_PACE.loginMs), perJobMs: Math.round(perJob), samples: n };
}
