import { sql } from 'kysely';
import type { Db } from './database.js';

/** Callback deliveries: one row per ended job with a callback_url, its state and its attempts. */

const ENDED_STATUSES = ['completed', 'failed', 'cancelled'] as const;

/** Records a pending delivery for each of `jobIds` that has ended and has a callback_url (once). */
export async function recordDueDeliveries(db: Db, jobIds: string[]): Promise<void> {
  if (jobIds.length === 0) return;
  await db
    .insertInto('callback_deliveries')
    .columns(['job_id', 'url'])
    .expression((eb) =>
      eb
        .selectFrom('jobs')
        .select(['id', sql<string>`callback_url`.as('url')])
        .where('id', 'in', jobIds)
        .where('status', 'in', ENDED_STATUSES)
        .where('callback_url', 'is not', null),
    )
    .onConflict((oc) => oc.column('job_id').doNothing())
    .execute();
}

/** Which of `jobIds` have a delivery still pending. */
export async function pendingDeliveriesOf(db: Db, jobIds: string[]): Promise<string[]> {
  if (jobIds.length === 0) return [];
  const rows = await db.selectFrom('callback_deliveries').select('job_id').where('job_id', 'in', jobIds).where('state', '=', 'pending').execute();
  return rows.map((r) => r.job_id);
}

/** One page of pending deliveries, by job id after `after`. */
export async function pendingDeliveryPage(db: Db, after: string, limit: number): Promise<string[]> {
  const rows = await db.selectFrom('callback_deliveries').select('job_id').where('state', '=', 'pending').where('job_id', '>', after).orderBy('job_id').limit(limit).execute();
  return rows.map((r) => r.job_id);
}

/** A delivery with what its payload is built from. */
export async function findDeliveryWithJob(db: Db, jobId: string) {
  return db
    .selectFrom('callback_deliveries as d')
    .innerJoin('jobs as j', 'j.id', 'd.job_id')
    .select(['d.url', 'd.state', 'j.id', 'j.status', 'j.result', 'j.error', 'j.batch_id', 'j.audit_head', 'j.completed_at'])
    .where('d.job_id', '=', jobId)
    .executeTakeFirst();
}

/** A delivery's state as GET /jobs/:id shows it. */
export async function findDelivery(db: Db, jobId: string) {
  return db
    .selectFrom('callback_deliveries')
    .select(['state', 'attempts', 'last_status', 'last_error', 'delivered_at', 'next_attempt_at'])
    .where('job_id', '=', jobId)
    .executeTakeFirst();
}

export async function markDelivered(db: Db, jobId: string, status: number): Promise<void> {
  await db
    .updateTable('callback_deliveries')
    .set({ state: 'delivered', attempts: sql`attempts + 1`, last_status: status, last_error: null, delivered_at: new Date(), next_attempt_at: null, updated_at: new Date() })
    .where('job_id', '=', jobId)
    .where('state', '=', 'pending')
    .execute();
}

/** The SSRF guard refused the target: final, no attempt was made. */
export async function markRefused(db: Db, jobId: string, reason: string): Promise<void> {
  await db
    .updateTable('callback_deliveries')
    .set({ state: 'refused', last_error: reason, next_attempt_at: null, updated_at: new Date() })
    .where('job_id', '=', jobId)
    .where('state', '=', 'pending')
    .execute();
}

/** One failed attempt: pending again with its next time, or failed when it was the last. */
export async function recordAttemptFailure(db: Db, jobId: string, attempt: { last: boolean; status: number | null; error: string; nextAttemptAt: Date | null }): Promise<void> {
  await db
    .updateTable('callback_deliveries')
    .set({
      state: attempt.last ? 'failed' : 'pending',
      attempts: sql`attempts + 1`,
      last_status: attempt.status,
      last_error: attempt.error.slice(0, 1000),
      next_attempt_at: attempt.nextAttemptAt,
      updated_at: new Date(),
    })
    .where('job_id', '=', jobId)
    .where('state', '=', 'pending')
    .execute();
}
