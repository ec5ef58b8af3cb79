import type { Selectable } from 'kysely';
import { evidenceDigest } from '../evidence/audit-records.js';
import type { EvidenceItem } from '../evidence/evidence-item.js';
import { appendAudit, lockChains } from './audit-store.js';
import type { Db } from './database.js';
import type { JobEvidenceTable } from './schema.js';

export type EvidenceRow = Selectable<JobEvidenceTable>;

/**
 * Writes the metadata of a job's evidence items (already in the evidence store) and puts each
 * on the job's audit chain, in the caller's transaction: a job transition records its evidence
 * and its event together or not at all.
 */
export async function recordEvidence(db: Db, jobId: string, items: readonly EvidenceItem[]): Promise<void> {
  if (items.length === 0) return;
  if (!db.isTransaction) return db.transaction().execute((trx) => recordEvidence(trx, jobId, items));
  const tails = await lockChains(db, [jobId]);
  const rows = await db
    .insertInto('job_evidence')
    .values(items.map((i) => ({ job_id: jobId, name: i.name, step: i.step, content_type: i.contentType, bytes: i.bytes, sha256: i.sha256, object_key: i.key, taken_at: i.takenAt })))
    .returning(['id', 'job_id', 'name', 'step', 'content_type', 'bytes', 'sha256', 'taken_at'])
    .execute();
  rows.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
  await appendAudit(db, tails, rows.map((r) => ({ jobId, kind: 'evidence' as const, refId: r.id, sha256: evidenceDigest(r) })));
}

/** A job's evidence, in the order it was recorded. */
export async function listEvidence(db: Db, jobId: string): Promise<EvidenceRow[]> {
  return db.selectFrom('job_evidence').selectAll().where('job_id', '=', jobId).orderBy('id').execute();
}

/** The evidence of several jobs (a page of GET /jobs), by job id. */
export async function listEvidenceOf(db: Db, jobIds: readonly string[]): Promise<Map<string, EvidenceRow[]>> {
  const byJob = new Map<string, EvidenceRow[]>(jobIds.map((id) => [id, []]));
  if (jobIds.length === 0) return byJob;
  const rows = await db.selectFrom('job_evidence').selectAll().where('job_id', 'in', [...jobIds]).orderBy('id').execute();
  for (const row of rows) byJob.get(row.job_id)?.push(row);
  return byJob;
}

export async function findEvidence(db: Db, jobId: string, name: string): Promise<EvidenceRow | undefined> {
  return db.selectFrom('job_evidence').selectAll().where('job_id', '=', jobId).where('name', '=', name).executeTakeFirst();
}
