import { sql } from 'kysely';
import { extendChain, type AuditKind } from '../evidence/audit-chain.js';
import { RpaError } from '../errors/failures.js';
import type { Db } from './database.js';

/** One thing to put on a job's chain: an event (its job_events id) or an evidence item (its job_evidence id). */
export interface AuditItem {
  jobId: string;
  kind: AuditKind;
  refId: string;
  /** audit-records.ts: eventDigest or evidenceDigest of the row as written. */
  sha256: string;
}

/** Where a job's chain ends: its length and its head (null while empty). */
export interface ChainTail {
  seq: number;
  head: string | null;
}

/**
 * Locks the jobs' rows (FOR NO KEY UPDATE, in id order) and reads where their chains end. Call
 * it first in the transaction, before inserting the rows the entries stand for: an insert into
 * a table that references jobs takes a share lock on the job's row, and two transactions that
 * both took one before asking for this lock would deadlock. Two appends for one job take turns
 * here, the second reading the head the first committed.
 */
export async function lockChains(db: Db, jobIds: readonly string[]): Promise<Map<string, ChainTail>> {
  const ids = [...new Set(jobIds)].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0));
  if (ids.length === 0) return new Map();
  const { rows } = await sql<{ id: string; audit_seq: number; audit_head: string | null }>`
    SELECT id, audit_seq, audit_head FROM jobs WHERE id = ANY(${ids}::bigint[]) ORDER BY id FOR NO KEY UPDATE
  `.execute(db);
  return new Map(rows.map((r) => [r.id, { seq: r.audit_seq, head: r.audit_head }]));
}

/**
 * Extends the chains of the items' jobs, in the order given, from the tails lockChains returned
 * in this same transaction, and moves each job's head. `(job_id, seq)` is the primary key, so a
 * chain can never fork. Set-based: a bulk submission of 10,000 jobs costs two statements.
 */
export async function appendAudit(db: Db, tails: ReadonlyMap<string, ChainTail>, items: readonly AuditItem[]): Promise<void> {
  if (items.length === 0) return;
  if (!db.isTransaction) throw new RpaError('INTERNAL', 'audit entries are appended inside the transaction that locked the chains');
  const entries: Array<{ jobId: string; refId: string; seq: number; kind: AuditKind; sha256: string; prev: string; hash: string }> = [];
  for (const [jobId, tail] of tails) {
    const mine = items.filter((i) => i.jobId === jobId);
    if (mine.length === 0) continue;
    extendChain(tail, mine).forEach((entry, k) => entries.push({ jobId, refId: mine[k]!.refId, ...entry }));
  }
  if (entries.length === 0) return;
  const col = <T>(pick: (e: (typeof entries)[number]) => T) => entries.map(pick);
  await sql`
    INSERT INTO job_audit (job_id, seq, kind, ref_id, sha256, prev, hash)
    SELECT * FROM unnest(${col((e) => e.jobId)}::bigint[], ${col((e) => e.seq)}::int[], ${col((e) => e.kind)}::text[],
                         ${col((e) => e.refId)}::bigint[], ${col((e) => e.sha256)}::text[], ${col((e) => e.prev)}::text[], ${col((e) => e.hash)}::text[])
  `.execute(db);
  // The last entry of each job is its new head.
  const heads = [...new Map(entries.map((e) => [e.jobId, e])).values()];
  await sql`
    UPDATE jobs SET audit_seq = h.seq, audit_head = h.hash
    FROM unnest(${heads.map((h) => h.jobId)}::bigint[], ${heads.map((h) => h.seq)}::int[], ${heads.map((h) => h.hash)}::text[]) AS h(id, seq, hash)
    WHERE jobs.id = h.id
  `.execute(db);
}

/** A job's chain, oldest entry first. */
export async function listAudit(db: Db, jobId: string) {
  return db.selectFrom('job_audit').select(['seq', 'kind', 'ref_id', 'sha256', 'prev', 'hash']).where('job_id', '=', jobId).orderBy('seq').execute();
}

/** A job's chain head and length as stored with the job (undefined when there is no such job). */
export async function findAuditHead(db: Db, jobId: string): Promise<{ seq: number; head: string | null } | undefined> {
  const row = await db.selectFrom('jobs').select(['audit_seq', 'audit_head']).where('id', '=', jobId).executeTakeFirst();
  return row ? { seq: row.audit_seq, head: row.audit_head } : undefined;
}

/** Every job that was ever a member of the batch (batch_jobs), and those it holds now, by id. */
export async function jobIdsOfBatch(db: Db, batchId: string): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`
    SELECT job_id AS id FROM batch_jobs WHERE batch_id = ${batchId}
    UNION SELECT id FROM jobs WHERE batch_id = ${batchId}
    ORDER BY id
  `.execute(db);
  return rows.map((r) => r.id);
}
