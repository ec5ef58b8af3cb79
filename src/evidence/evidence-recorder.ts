import { sha256Hex } from './audit-chain.js';
import type { EvidenceItem } from './evidence-item.js';
import type { EvidenceStore } from './evidence-store.js';

/** One thing to keep: its bytes and where in the flow it was taken. */
export interface EvidenceCapture {
  /** The job it belongs to; undefined for a batch's own session (a login before any job). */
  jobId?: string;
  batchId: string;
  /** `result`, `filled-form`, `confirmation`, `failed` … (no secrets: it is part of the name). */
  step: string;
  contentType: 'image/png' | 'application/json';
  body: Buffer;
  /** When it was taken (recorder.moment()); items taken together (a screenshot and its failure details) share it. */
  takenAt: Date;
}

const EXTENSIONS: Record<EvidenceCapture['contentType'], string> = { 'image/png': 'png', 'application/json': 'json' };

/**
 * Uploads evidence to the store, in the process that took it (the sandboxed batch child), and
 * says what it stored: name, sha256, size, key. The name is `<step>-<UTC time to the ms>.<ext>`
 * (`result-20250301T101502123Z.png`), unique per job because moment() never hands out the same
 * millisecond twice in one process, and the key `jobs/<job id>/<name>` (a batch's own session:
 * `batches/<batch id>/<name>`), so retention can remove a job's objects by its prefix.
 */
export class EvidenceRecorder {
  private last = 0;

  constructor(readonly store: EvidenceStore) {}

  /** Now, but always later than the moment handed out before. */
  moment(): Date {
    this.last = Math.max(Date.now(), this.last + 1);
    return new Date(this.last);
  }

  /** Uploads the bytes; throws EVIDENCE_UNAVAILABLE when the store refuses them. */
  async record(capture: EvidenceCapture): Promise<EvidenceItem> {
    const stamp = capture.takenAt.toISOString().replace(/[-:]/g, '').replace('.', '');
    const name = `${safeSegment(capture.step)}-${stamp}.${EXTENSIONS[capture.contentType]}`;
    const key = (capture.jobId === undefined ? batchEvidencePrefix(capture.batchId) : jobEvidencePrefix(capture.jobId)) + name;
    await this.store.put(key, capture.body, capture.contentType);
    return { name, step: capture.step, contentType: capture.contentType, bytes: capture.body.length, sha256: sha256Hex(capture.body), takenAt: capture.takenAt, key };
  }
}

/** Where a job's evidence objects are (retention removes the job's prefix with the job). */
export function jobEvidencePrefix(jobId: string): string {
  return `jobs/${safeSegment(jobId)}/`;
}

/** Where a batch's own session evidence is (a failed login before any job). */
export function batchEvidencePrefix(batchId: string): string {
  return `batches/${safeSegment(batchId)}/`;
}

/** An id or label made safe as one key segment: no separators, no `..`, a letter or digit first. */
export function safeSegment(part: string): string {
  return String(part).replace(/[^A-Za-z0-9_.-]/g, '_').replace(/\.{2,}/g, '_').replace(/^[._-]+/, '').slice(0, 80) || 'unnamed';
}
