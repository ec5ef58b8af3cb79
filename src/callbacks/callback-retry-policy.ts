import { createHash } from 'node:crypto';
import { backoffMs } from '../errors/backoff.js';

/**
 * How often and how patiently a callback is retried, in one place: the enqueuer puts
 * `attempts` and `backoff` on every callback job, the worker's backoff strategy computes the
 * delays. Retry n (after attempt n fails) waits `delay · 2^(n-1)`, less up to `jitter` of it:
 * 30 s, 1 min, 2 min … 2 h 8 min; nine waits of at least 3 h 24 min in all (4 h 15 min nominal).
 */
export const CALLBACK_RETRY = {
  attempts: 10,
  backoff: { type: 'callback-exponential', delay: 30_000, jitter: 0.2 },
} as const;

/**
 * The wait after attempt `attemptsMade` (1-based) of the callback job `jobKey` fails. The jitter
 * is derived from the job and the attempt rather than drawn at random, so receivers still see
 * callbacks spread out, and the worker can record the same `next_attempt_at` BullMQ will use.
 */
export function callbackBackoffDelay(attemptsMade: number, jobKey: string, baseMs: number = CALLBACK_RETRY.backoff.delay): number {
  const digest = createHash('sha256').update(`${jobKey}:${attemptsMade}`).digest();
  const fraction = digest.readUInt32BE(0) / 0x1_0000_0000;
  return Math.max(1, backoffMs(attemptsMade, { baseMs, jitter: CALLBACK_RETRY.backoff.jitter }, fraction));
}

/** The nominal waits between the attempts (no jitter), for reports and tests. */
export function callbackRetrySchedule(baseMs: number = CALLBACK_RETRY.backoff.delay): number[] {
  return Array.from({ length: CALLBACK_RETRY.attempts - 1 }, (_, i) => baseMs * 2 ** i);
}
