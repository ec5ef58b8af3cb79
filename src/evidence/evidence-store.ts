import { RpaError } from '../errors/failures.js';

/**
 * Where evidence bytes live: the local filesystem (EVIDENCE_STORE=fs, the default) or an
 * S3-compatible bucket (EVIDENCE_STORE=s3). Keys are relative (`jobs/12/result-….png`) and
 * made of safe segments; a store refuses any other. Nothing a store throws names a server
 * path or a credential.
 */
export interface EvidenceStore {
  /** `fs` or `s3`, for logs and docs. */
  readonly kind: 'fs' | 's3';
  /** Resolves when the store can be written (the folder, or the bucket with these credentials). */
  check(): Promise<void>;
  put(key: string, body: Buffer, contentType: string): Promise<void>;
  /** The object's bytes, or undefined when there is none under `key`. */
  get(key: string): Promise<Buffer | undefined>;
  /** Deletes the objects under `prefix` (a folder-like prefix ending in `/`); returns how many. */
  deletePrefix(prefix: string): Promise<number>;
  close(): Promise<void>;
}

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * Throws INTERNAL unless `key` is segments of letters, digits, `.`, `_`, `-` joined by `/`
 * (no `..`, no leading `/`); a prefix may end in `/`.
 */
export function assertSafeKey(key: string, options: { prefix?: boolean } = {}): void {
  const parts = key.split('/');
  const last = parts.length - 1;
  const ok = parts.every((p, i) => (options.prefix && i === last && i > 0 && p === '') || (SEGMENT.test(p) && !p.includes('..')));
  if (!ok) throw new RpaError('INTERNAL', `evidence ${options.prefix ? 'prefix' : 'key'} is not a safe relative key`);
}
