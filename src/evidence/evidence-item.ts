/**
 * One evidence item of a job as the worker recorded it: a screenshot or the details of a
 * failure, its bytes in the evidence store under `key`. `name` is unique per job and is what
 * the API serves it by (`/jobs/:id/evidence/:name`); `key` never leaves the system.
 */
export interface EvidenceItem {
  name: string;
  /** Where in the flow it was taken: `result`, `filled-form`, `confirmation`, `failed` … */
  step: string;
  contentType: string;
  bytes: number;
  /** Hex sha256 of the stored bytes. */
  sha256: string;
  takenAt: Date;
  /** The object's key in the evidence store (relative: `jobs/<job id>/<name>`). */
  key: string;
}

/** A name as the API may serve it: letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
export const EVIDENCE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** True when `value` is a list of EvidenceItem (what a failed job's error carries in `details.evidence`). */
export function isEvidenceItems(value: unknown): value is EvidenceItem[] {
  return (
    Array.isArray(value) &&
    value.every((v) => typeof v === 'object' && v !== null && typeof (v as EvidenceItem).name === 'string' && typeof (v as EvidenceItem).key === 'string' && typeof (v as EvidenceItem).sha256 === 'string')
  );
}
