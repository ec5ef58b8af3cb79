import { setTimeout as delay } from 'node:timers/promises';
import { backoffMs } from '../errors/backoff.js';
import { RpaError, hasScope } from '../errors/failures.js';
import type { Logger } from '../logger.js';

/** How a step that met a portal 503 is retried: bounded attempts, exponential backoff, jitter. */
export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const defaultRetryPolicy: RetryPolicy = { attempts: 8, baseDelayMs: 200, maxDelayMs: 2_000 };

/** The error a step throws when one portal answer was a 503 or a reset: `withPortalRetry` loads it again. */
export function portalHiccup(what: string, status = 503): RpaError {
  return new RpaError('PORTAL_HICCUP', `portal answered ${status} to ${what}`, {
    details: { status },
  });
}


/**
 * Runs `step` and runs it again, after a backoff, each time it fails with a `portalHiccup`.
 * Steps must be safe to re-run from their start: a cancellation re-reads the circuit first.
 * When the portal is still down after the last attempt, throws PORTAL_UNAVAILABLE.
 */
export async function withPortalRetry<T>(
  ctx: { retry?: Partial<RetryPolicy>; logger: Logger },
  operation: string,
  step: (attempt: number) => Promise<T>,
): Promise<T> {
  const policy = { ...defaultRetryPolicy, ...ctx.retry };
  let last: RpaError | undefined;
  for (let attempt = 1; attempt <= policy.attempts; attempt++) {
    try {
      return await step(attempt);
    } catch (thrown) {
      if (!hasScope(thrown, 'page')) throw thrown;
      last = thrown;
      if (attempt === policy.attempts) break;
      const wait = backoffMs(attempt, { baseMs: policy.baseDelayMs, maxMs: policy.maxDelayMs });
      ctx.logger.warn({ operation, attempt, of: policy.attempts, wait_ms: wait }, `portal unavailable during ${operation}, retrying`);
      await delay(wait, undefined, { ref: false });
    }
  }
  throw new RpaError(
    'PORTAL_UNAVAILABLE',
    `portal stayed unavailable during ${operation} after ${policy.attempts} attempts (${last?.message ?? 'no answer'})`,
    { cause: last, details: { attempts: policy.attempts } },
  );
}
