import { listAudit } from '../db/audit-store.js';
import type { Db } from '../db/database.js';
import { listJobEvents } from '../db/event-store.js';
import { listEvidence } from '../db/evidence-metadata-store.js';
import { findJob } from '../db/job-store.js';
import { RpaError } from '../errors/failures.js';
import { GENESIS, entryHash, sha256Hex } from './audit-chain.js';
import { eventDigest, evidenceDigest } from './audit-records.js';
import type { EvidenceStore } from './evidence-store.js';

/** One thing that does not match, named so an operator can find it. */
export interface AuditProblem {
  /** `evidence <name>`, `event <id>`, `chain entry <seq>` or `head`. */
  item: string;
  reason: string;
}

export interface JobVerification {
  jobId: string;
  /** The head recomputed from the entries (null for an empty chain). */
  head: string | null;
  entries: number;
  intact: boolean;
  problems: AuditProblem[];
}

/**
 * Recomputes a job's audit chain from what is stored now: every event row, every evidence row
 * and the bytes of every evidence object (read back from the evidence store and hashed), and
 * compares it with the chain's entries, the head stored with the job and, when given, the head
 * ORDS received (`expectHead`). Each mismatch names the evidence item (by its name) or the event
 * (by its id) that no longer matches.
 */
export async function verifyJob(db: Db, store: EvidenceStore, jobId: string, options: { expectHead?: string } = {}): Promise<JobVerification> {
  const job = await findJob(db, jobId);
  if (!job) throw new RpaError('NOT_FOUND', `job ${jobId} does not exist`);
  const [entries, events, evidence] = await Promise.all([listAudit(db, jobId), listJobEvents(db, jobId), listEvidence(db, jobId)]);
  const eventsById = new Map(events.map((e) => [e.id, e]));
  const evidenceById = new Map(evidence.map((e) => [e.id, e]));
  const problems: AuditProblem[] = [];
  const seen = { event: new Set<string>(), evidence: new Set<string>() };
  let prev = GENESIS;
  for (const [index, entry] of entries.entries()) {
    const where = `chain entry ${entry.seq}`;
    if (entry.seq !== index + 1) problems.push({ item: where, reason: `out of sequence (expected ${index + 1})` });
    if (entry.prev !== prev) problems.push({ item: where, reason: 'its prev is not the hash of the entry before it' });
    if (entryHash(entry) !== entry.hash) problems.push({ item: where, reason: 'its hash does not match its contents' });
    prev = entry.hash;
    if (entry.kind === 'event') {
      seen.event.add(entry.ref_id);
      const row = eventsById.get(entry.ref_id);
      if (!row) problems.push({ item: `event ${entry.ref_id}`, reason: `on the chain (entry ${entry.seq}) but no longer in job_events` });
      else if (eventDigest(row) !== entry.sha256) {
        problems.push({ item: `event ${row.id}`, reason: `the row (${row.from_status ?? '-'} → ${row.to_status}, "${row.cause}") no longer matches chain entry ${entry.seq}: it was changed after it was written` });
      }
      continue;
    }
    seen.evidence.add(entry.ref_id);
    const row = evidenceById.get(entry.ref_id);
    if (!row) {
      problems.push({ item: `evidence #${entry.ref_id}`, reason: `on the chain (entry ${entry.seq}) but no longer in job_evidence` });
      continue;
    }
    const item = `evidence ${row.name}`;
    if (evidenceDigest(row) !== entry.sha256) problems.push({ item, reason: `its metadata no longer matches chain entry ${entry.seq}` });
    const bytes = await store.get(row.object_key);
    if (!bytes) problems.push({ item, reason: 'its object is missing from the evidence store' });
    else if (bytes.length !== row.bytes || sha256Hex(bytes) !== row.sha256) problems.push({ item, reason: `the stored bytes (sha256 ${sha256Hex(bytes)}) do not match the recorded sha256 ${row.sha256}` });
  }
  for (const e of events) if (!seen.event.has(e.id)) problems.push({ item: `event ${e.id}`, reason: 'not on the chain: it was added outside a transition' });
  for (const e of evidence) if (!seen.evidence.has(e.id)) problems.push({ item: `evidence ${e.name}`, reason: 'not on the chain: it was added outside a transition' });
  const head = entries.length === 0 ? null : prev;
  if (job.audit_head !== head || job.audit_seq !== entries.length) problems.push({ item: 'head', reason: `the head stored with the job (${job.audit_head ?? 'none'}, ${job.audit_seq} entries) is not the chain's (${head ?? 'none'}, ${entries.length})` });
  if (options.expectHead !== undefined && options.expectHead !== head) problems.push({ item: 'head', reason: `the chain no longer ends at the head given (${options.expectHead})` });
  return { jobId, head, entries: entries.length, intact: problems.length === 0, problems };
}
