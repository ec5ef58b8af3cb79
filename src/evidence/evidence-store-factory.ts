import type { Config } from '../config/config.js';
import type { EvidenceStore } from './evidence-store.js';
import { FsEvidenceStore } from './fs-evidence-store.js';
import { S3EvidenceStore } from './s3-evidence-store.js';

/** The evidence store the configuration names: EVIDENCE_STORE=fs (EVIDENCE_DIR) or s3 (EVIDENCE_S3_*). */
export function createEvidenceStore(config: Pick<Config, 'evidence' | 'evidenceDir'>): EvidenceStore {
  const { store, s3 } = config.evidence;
  if (store === 'fs') return new FsEvidenceStore(config.evidenceDir);
  // loadConfig refuses s3 without these; the `!` only restates it.
  return new S3EvidenceStore({
    bucket: s3.bucket!,
    endpoint: s3.endpoint,
    region: s3.region,
    accessKeyId: s3.accessKeyId!,
    secretAccessKey: s3.secretAccessKey!,
    forcePathStyle: s3.forcePathStyle,
    prefix: s3.prefix,
  });
}
