import { sql, type RawBuilder } from 'kysely';
import type { Db } from './database.js';

/** What /metrics reads from Postgres at scrape time: counts and duration histograms of the rows themselves. */

export async function jobCounts(db: Db) {
  return db.selectFrom('jobs').select(['provider', 'action', 'status', sql<number>`count(*)::int`.as('n')]).groupBy(['provider', 'action', 'status']).execute();
}

/** Batches by provider and status, with their logins and how many ended in a refused login. */
export async function batchCounts(db: Db, refusedCodes: readonly string[]) {
  return db
    .selectFrom('batches')
    .select([
      'provider',
      'status',
      sql<number>`count(*)::int`.as('n'),
      sql<number>`coalesce(sum(login_count), 0)::int`.as('logins'),
      sql<number>`count(*) FILTER (WHERE error->>'code' = ANY(${[...refusedCodes]}::text[]))::int`.as('refused'),
    ])
    .groupBy(['provider', 'status'])
    .execute();
}

export async function batchErrorCounts(db: Db) {
  return db
    .selectFrom('batches')
    .select(['provider', sql<string>`error->>'code'`.as('code'), sql<number>`count(*)::int`.as('n')])
    .where(sql<boolean>`error->>'code' IS NOT NULL`)
    .groupBy(['provider', sql`error->>'code'`])
    .execute();
}

/** Per provider, the jobs of its batches still running: their size and how many have ended which way. */
export async function activeBatchTotals(db: Db, activeStatuses: readonly string[]) {
  return db
    .selectFrom('batches')
    .select([
      'provider',
      sql<number>`coalesce(sum(size), 0)::int`.as('size'),
      sql<number>`coalesce(sum(completed_count), 0)::int`.as('completed'),
      sql<number>`coalesce(sum(failed_count), 0)::int`.as('failed'),
      sql<number>`coalesce(sum(returned_count), 0)::int`.as('returned'),
    ])
    .where('status', 'in', activeStatuses as never[])
    .groupBy('provider')
    .execute();
}

/** Seconds the oldest due pending job of each provider has waited (a job in retry backoff is due from available_at). */
export async function oldestWaitingAges(db: Db) {
  return db
    .selectFrom('jobs')
    .select(['provider', sql<number>`extract(epoch FROM now() - min(available_at))::float8`.as('age')])
    .where('status', '=', 'pending')
    .where('available_at', '<=', sql<Date>`now()`)
    .groupBy('provider')
    .execute();
}

export async function deliveryCounts(db: Db) {
  return db.selectFrom('callback_deliveries').select(['state', sql<number>`count(*)::int`.as('n'), sql<number>`coalesce(sum(attempts), 0)::int`.as('attempts')]).groupBy('state').execute();
}

export interface DurationRow {
  labels: Record<string, string>;
  /** Cumulative counts, one per bucket bound. */
  buckets: number[];
  count: number;
  sum: number;
}

/** Cumulative histogram buckets of `seconds` per label set, computed in Postgres. */
async function durationHistogram(db: Db, durations: RawBuilder<unknown>, labelNames: string[], buckets: number[]): Promise<DurationRow[]> {
  const labels = sql.join(labelNames.map((l) => sql.ref(l)));
  const bucketCounts = sql.join(buckets.map((b) => sql`count(*) FILTER (WHERE seconds <= ${sql.lit(b)})::int`));
  const { rows } = await sql<Record<string, unknown> & { buckets: number[]; n: number; total: number }>`
    SELECT ${labels}, ARRAY[${bucketCounts}] AS buckets, count(*)::int AS n, coalesce(sum(seconds), 0)::float8 AS total
    FROM (${durations}) AS durations
    WHERE seconds >= 0
    GROUP BY ${labels}
  `.execute(db);
  return rows.map((r) => ({ labels: Object.fromEntries(labelNames.map((l) => [l, String(r[l])])), buckets: r.buckets, count: r.n, sum: r.total }));
}

/** From start to end of finished jobs (their last attempt), by provider, action and status. */
export function jobDurations(db: Db, buckets: number[]): Promise<DurationRow[]> {
  return durationHistogram(
    db,
    sql`SELECT provider, action, status, extract(epoch FROM completed_at - started_at)::float8 AS seconds FROM jobs WHERE status IN ('completed', 'failed') AND started_at IS NOT NULL AND completed_at IS NOT NULL`,
    ['provider', 'action', 'status'],
    buckets,
  );
}

/** From start to end of finished batches, by provider and status. */
export function batchDurations(db: Db, buckets: number[]): Promise<DurationRow[]> {
  return durationHistogram(
    db,
    sql`SELECT provider, status, extract(epoch FROM finished_at - started_at)::float8 AS seconds FROM batches WHERE status IN ('completed', 'failed') AND started_at IS NOT NULL AND finished_at IS NOT NULL`,
    ['provider', 'status'],
    buckets,
  );
}

/** Pending jobs of a provider whose deadline falls before `horizon` (they will likely miss it). */
export async function jobsDueBefore(db: Db, provider: string, horizon: Date): Promise<number> {
  const row = await db
    .selectFrom('jobs')
    .select(sql<number>`count(*)::int`.as('n'))
    .where('provider', '=', provider)
    .where('status', '=', 'pending')
    .where(sql<boolean>`parameters ? 'deadline'`)
    .where(sql<string>`parameters->>'deadline'`, '<=', horizon.toISOString())
    .executeTakeFirst();
  return row?.n ?? 0;
}
