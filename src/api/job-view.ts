import type { JobRow } from '../db/job-store.js';
import { evidenceLinks, type EvidenceMetadata } from '../evidence/evidence-links.js';

export interface CallbackDeliveryView {
  state: string;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  delivered_at: Date | null;
  /** When a pending delivery is tried again; null when none is scheduled. */
  next_attempt_at: Date | null;
}

/** A job as the API shows it: its evidence as links to the API (never where the bytes are kept), its audit chain's head. */
export function jobView(job: JobRow, callback?: CallbackDeliveryView | null, evidence: readonly EvidenceMetadata[] = []) {
  return {
    job_id: Number(job.id),
    provider: job.provider,
    action: job.action,
    parameters: job.parameters,
    status: job.status,
    result: job.result,
    error: job.error,
    batch_id: job.batch_id === null ? null : Number(job.batch_id),
    attempts: job.attempts,
    max_attempts: job.max_attempts,
    external_id: job.external_id,
    callback_url: job.callback_url,
    callback: callback ?? null,
    evidence: evidenceLinks(job.id, evidence),
    audit_head: job.audit_head,
    created_at: job.created_at,
    updated_at: job.updated_at,
    started_at: job.started_at,
    completed_at: job.completed_at,
  };
}
