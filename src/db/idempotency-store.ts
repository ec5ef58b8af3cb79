import { sql } from 'kysely';
import type { Db } from './database.js';

export type ClaimResult = { kind: 'claimed' } | { kind: 'replay'; jobIds: string[] } | { kind: 'conflict' };

/**
 * Claims an idempotency key inside the caller's transaction. A concurrent request with the
 * same key blocks on the row until this transaction ends, then sees its outcome.
 */
export async function claimIdempotencyKey(db: Db, key: string, requestHash: string): Promise<ClaimResult> {
  const inserted = await sql<{ key: string }>`
    INSERT INTO idempotency_keys (key, request_hash, job_ids) VALUES (${key}, ${requestHash}, '{}')
    ON CONFLICT (key) DO NOTHING RETURNING key
  `.execute(db);
  if (inserted.rows.length > 0) return { kind: 'claimed' };
  const existing = await db.selectFrom('idempotency_keys').selectAll().where('key', '=', key).executeTakeFirstOrThrow();
  return existing.request_hash === requestHash ? { kind: 'replay', jobIds: existing.job_ids.map(String) } : { kind: 'conflict' };
}

export async function completeIdempotencyKey(db: Db, key: string, jobIds: string[]): Promise<void> {
  await sql`UPDATE idempotency_keys SET job_ids = ${jobIds}::bigint[] WHERE key = ${key}`.execute(db);
}
