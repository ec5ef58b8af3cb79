import type { JobError, JobStatus } from '../db/schema.js';
import type { EvidenceLink } from '../evidence/evidence-links.js';

/** The columns of a job a callback reports. */
export interface CallbackJobRow {
  id: string;
  status: JobStatus;
  result: Record<string, unknown> | null;
  error: JobError | null;
  batch_id: string | null;
  /** The head of the job's audit chain when the callback is sent (null for a job without one). */
  audit_head: string | null;
  completed_at: Date | null;
}

/** The body ORDS receives, in this key order. */
export interface CallbackPayload {
  job_id: number;
  status: JobStatus;
  result: Record<string, unknown> | null;
  error: JobError | null;
  batch_id: number | null;
  /** Absolute URLs (PUBLIC_BASE_URL) ORDS fetches with its API key; no server path. */
  evidence: EvidenceLink[];
  /** What ORDS keeps: `rpa evidence verify --head` checks the stored chain still ends here. */
  audit_head: string | null;
  completed_at: string | null;
}

/** Serialises a job's outcome as the callback body (the exact bytes that are signed and sent). */
export function buildCallbackPayload(job: CallbackJobRow, evidence: readonly EvidenceLink[] = []): string {
  const payload: CallbackPayload = {
    job_id: Number(job.id),
    status: job.status,
    result: job.result,
    error: job.error,
    batch_id: job.batch_id === null ? null : Number(job.batch_id),
    evidence: [...evidence],
    audit_head: job.audit_head ?? null,
    completed_at: job.completed_at === null ? null : new Date(job.completed_at).toISOString(),
  };
  return JSON.stringify(payload);
}
