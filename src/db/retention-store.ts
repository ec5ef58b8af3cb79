import { sql } from 'kysely';
import type { Db } from './database.js';

/**
 * Deletes up to `limit` finished jobs (completed, failed, cancelled) that ended before `cutoff`,
 * with their event log, membership, intents, deliveries, evidence rows and audit chain (ON DELETE
 * CASCADE). A job whose callback is still pending is kept. Returns what was deleted, with its
 * legacy evidence paths (jobs.evidence, written before migration 000005).
 */
export async function deleteFinishedJobs(db: Db, cutoff: Date, limit: number): Promise<{ id: string; evidence: string[] }[]> {
  const { rows } = await sql<{ id: string; evidence: string[] }>`
    DELETE FROM jobs WHERE id IN (
      SELECT j.id FROM jobs j
      WHERE j.status IN ('completed', 'failed', 'cancelled')
        AND coalesce(j.completed_at, j.updated_at) < ${cutoff}
        AND NOT EXISTS (SELECT 1 FROM callback_deliveries d WHERE d.job_id = j.id AND d.state = 'pending')
      ORDER BY j.id LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    )
    RETURNING id, evidence
  `.execute(db);
  return rows;
}

/** Ended batches older than `cutoff` that no job belongs to any more; returns their ids. */
export async function deleteEmptyEndedBatches(db: Db, cutoff: Date): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`
    DELETE FROM batches b
    WHERE b.status IN ('completed', 'failed') AND coalesce(b.finished_at, b.updated_at) < ${cutoff}
      AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.batch_id = b.id)
      AND NOT EXISTS (SELECT 1 FROM batch_jobs WHERE batch_jobs.batch_id = b.id)
    RETURNING b.id
  `.execute(db);
  return rows.map((r) => r.id);
}

export async function deleteIdempotencyKeysBefore(db: Db, cutoff: Date): Promise<number> {
  const result = await db.deleteFrom('idempotency_keys').where('created_at', '<', cutoff).executeTakeFirst();
  return Number(result.numDeletedRows);
}
