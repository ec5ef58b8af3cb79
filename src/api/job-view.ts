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

/**
 * What a submitter is told about a failed or refused delivery. The worker's own text (`connect
 * ECONNREFUSED 10.0.3.7:8443`, a resolved address) would tell whoever picked the URL what answers
 * where inside the network: that stays in the log and for the staff roles.
 */
export function genericDeliveryError(state: string): string {
  return state === 'refused' ? 'the callback URL was refused (it is not a public http(s) address on an allowed port)' : 'the callback could not be delivered; the operators have the details';
}

export interface JobViewOptions {
  /** Show the callback delivery's error as the worker recorded it (staff roles); else a generic one. */
  callbackDetail?: boolean;
}

/** A job as the API shows it: its evidence as links to the API (never where the bytes are kept), its audit chain's head. */
export function jobView(job: JobRow, callback?: CallbackDeliveryView | null, evidence: readonly EvidenceMetadata[] = [], options: JobViewOptions = {}) {
  const delivery = callback && !options.callbackDetail && callback.last_error !== null ? { ...callback, last_error: genericDeliveryError(callback.state) } : callback;
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
    callback: delivery ?? null,
    evidence: evidenceLinks(job.id, evidence),
    audit_head: job.audit_head,
    created_at: job.created_at,
    updated_at: job.updated_at,
    started_at: job.started_at,
    completed_at: job.completed_at,
  };
}
