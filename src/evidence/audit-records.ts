import { canonicalJson, sha256Hex } from './audit-chain.js';

/**
 * What each audit entry's `sha256` is the digest of: the canonical JSON (audit-chain.ts) of the
 * row as Postgres returns it, ids as decimal strings, times as ISO 8601 with milliseconds.
 * Computed when the row is written and again by `rpa evidence verify` from the stored rows (and,
 * for evidence, the stored bytes), so the two must read the same columns.
 */

export interface EventRecord {
  id: string;
  job_id: string;
  at: Date;
  from_status: string | null;
  to_status: string;
  cause: string;
  actor: string;
  batch_id: string | null;
  details: Record<string, unknown> | null;
}

export interface EvidenceRecord {
  job_id: string;
  name: string;
  step: string;
  content_type: string;
  bytes: number;
  /** sha256 of the object's bytes. */
  sha256: string;
  taken_at: Date;
}

/** `{"kind":"event","id","job_id","at","from_status","to_status","cause","actor","batch_id","details"}` hashed. */
export function eventDigest(e: EventRecord): string {
  return sha256Hex(
    canonicalJson({
      kind: 'event',
      id: String(e.id),
      job_id: String(e.job_id),
      at: new Date(e.at).toISOString(),
      from_status: e.from_status,
      to_status: e.to_status,
      cause: e.cause,
      actor: e.actor,
      batch_id: e.batch_id === null ? null : String(e.batch_id),
      details: e.details ?? null,
    }),
  );
}

/** `{"kind":"evidence","job_id","name","step","content_type","bytes","sha256","taken_at"}` hashed. */
export function evidenceDigest(r: EvidenceRecord): string {
  return sha256Hex(
    canonicalJson({
      kind: 'evidence',
      job_id: String(r.job_id),
      name: r.name,
      step: r.step,
      content_type: r.content_type,
      bytes: Number(r.bytes),
      sha256: r.sha256,
      taken_at: new Date(r.taken_at).toISOString(),
    }),
  );
}
