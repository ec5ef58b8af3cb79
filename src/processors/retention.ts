import { rm, rmdir } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import type { Queue } from 'bullmq';
import type { Db } from '../db/database.js';
import { coerceError } from '../errors/coerce-error.js';
import type { EvidenceStore } from '../evidence/evidence-store.js';
import { batchEvidencePrefix, jobEvidencePrefix } from '../evidence/evidence-recorder.js';
import { silentLogger, type Logger } from '../logger.js';
import { deleteEmptyEndedBatches, deleteFinishedJobs, deleteIdempotencyKeysBefore } from '../db/retention-store.js';

export interface RetentionResult {
  jobs: number;
  batches: number;
  idempotencyKeys: number;
  /** Evidence objects removed from the evidence store (either backend), legacy files included. */
  evidenceFiles: number;
  /** BullMQ completed/failed entries removed. */
  queueEntries: number;
}

export interface RetentionOptions {
  /** Finished before this moment → purged. */
  cutoff: Date;
  /** The evidence store: a purged job's objects (`jobs/<id>/`) and a purged batch's (`batches/<id>/`) go with it. */
  evidence: EvidenceStore;
  /** Legacy evidence paths (before migration 000005) are deleted only when they lie inside this folder. */
  evidenceDir: string;
  logger?: Logger;
  /** Rows per DELETE statement (keeps locks short). */
  chunk?: number;
}

/**
 * Deletes finished jobs (completed, failed, cancelled) that ended before the cutoff, with their
 * event log, batch membership, cancellation intents and callback deliveries (ON DELETE CASCADE)
 * and their evidence (rows, audit chain, and the objects in the evidence store); then the
 * ended batches left without jobs, with their session evidence, and expired idempotency keys. A
 * job whose callback is still pending is kept until the callback is settled. Rows go first: an
 * object that cannot be deleted then is logged (an orphan nothing lists), never a listed item
 * whose bytes are gone. Jobs kept are not touched, so their chains still verify.
 */
export async function purgeFinishedJobs(db: Db, options: RetentionOptions): Promise<Omit<RetentionResult, 'queueEntries'>> {
  const chunk = options.chunk ?? 1_000;
  const root = resolve(options.evidenceDir);
  let jobs = 0;
  let evidenceFiles = 0;
  for (;;) {
    const rows = await deleteFinishedJobs(db, options.cutoff, chunk);
    jobs += rows.length;
    for (const row of rows) {
      evidenceFiles += await removeEvidence(root, row.evidence ?? []);
      evidenceFiles += await removeObjects(options, jobEvidencePrefix(row.id));
    }
    if (rows.length < chunk) break;
  }
  const batchIds = await deleteEmptyEndedBatches(db, options.cutoff);
  for (const id of batchIds) evidenceFiles += await removeObjects(options, batchEvidencePrefix(id));
  const idempotencyKeys = await deleteIdempotencyKeysBefore(db, options.cutoff);
  return { jobs, batches: batchIds.length, idempotencyKeys, evidenceFiles };
}

async function removeObjects(options: RetentionOptions, prefix: string): Promise<number> {
  try {
    return await options.evidence.deletePrefix(prefix);
  } catch (thrown) {
    (options.logger ?? silentLogger).warn({ prefix, err: coerceError(thrown).message }, 'retention could not delete evidence objects; they are left in the evidence store');
    return 0;
  }
}

/** Deletes legacy evidence files inside `root` (never anything outside it) and the folders they leave empty. */
async function removeEvidence(root: string, paths: string[]): Promise<number> {
  let removed = 0;
  for (const path of paths) {
    const file = resolve(root, path);
    const rel = relative(root, file);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) continue;
    try {
      await rm(file);
      removed++;
    } catch {
      continue;
    }
    // Remove the batch and provider folders once empty; rmdir refuses a folder that is not.
    for (let dir = dirname(file); dir.startsWith(root + sep); dir = dirname(dir)) {
      try {
        await rmdir(dir);
      } catch {
        break;
      }
    }
  }
  return removed;
}

/**
 * Trims BullMQ's own completed and failed sets so Valkey memory stays bounded: completed
 * entries older than `completedAgeMs`, failed ones older than `failedAgeMs`.
 */
export async function trimQueues(queues: Queue[], options: { completedAgeMs: number; failedAgeMs: number; limit?: number }): Promise<number> {
  let removed = 0;
  for (const queue of queues) {
    for (const [state, age] of [['completed', options.completedAgeMs], ['failed', options.failedAgeMs]] as const) {
      for (;;) {
        const ids = await queue.clean(age, options.limit ?? 1_000, state);
        removed += ids.length;
        if (ids.length < (options.limit ?? 1_000)) break;
      }
    }
  }
  return removed;
}
