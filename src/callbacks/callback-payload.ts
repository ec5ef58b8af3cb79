import type { JobError, JobStatus } from '../db/schema.js';

/** The columns of a job a callback reports. */
export interface CallbackJobRow {
  id: string;
  status: JobStatus;
  result: Record<string, unknown> | null;
  error: JobError | null;
  batch_id: string | null;
  evidence: string[];
  completed_at: Date | null;
}

/** The body ORDS receives, in this key order. */
export interface CallbackPayload {
  job_id: number;
  status: JobStatus;
  result: Record<string, unknown> | null;
  error: JobError | null;
  batch_id: number | null;
  evidence: string[];
  completed_at: string | null;
}

/** Serialises a job's outcome as the callback body (the exact bytes that are signed and sent). */
export function buildCallbackPayload(job: CallbackJobRow): string {
  const payload: CallbackPayload = {
    job_id: Number(job.id),
    status: job.status,
    result: job.result,
    error: job.error,
    batch_id: job.batch_id === null ? null : Number(job.batch_id),
    evidence: job.evidence ?? [],
    completed_at: job.completed_at === null ? null : new Date(job.completed_at).toISOString(),
  };
  return JSON.stringify(payload);
}
