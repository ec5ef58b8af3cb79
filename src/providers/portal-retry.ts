import { setTimeout as delay } from 'node:timers/promises';
import { RpaError, isRpaError } from '../errors.js';
import type { ProviderSessionContext } from './provider.js';

/** How a step that met a portal 503 is retried: bounded attempts, exponential backoff, jitter. */
export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const defaultRetryPolicy: RetryPolicy = { attempts: 8, baseDelayMs: 200, maxDelayMs: 2_000 };

/**
 * The error a step throws when one portal answer was a 503. `withPortalRetry` retries on it;
 * it is retryable on its own too, should it escape.
 */
export function portalHiccup(what: string, status = 503): RpaError {
  return new RpaError('PORTAL_UNAVAILABLE', `portal answered ${status} to ${what}`, {
    retryable: true,
    details: { transient: true, status },
  });
}

function isHiccup(thrown: unknown): thrown is RpaError {
  return isRpaError(thrown, 'PORTAL_UNAVAILABLE') && thrown.details?.transient === true;
}

/**
 * Runs `step` and runs it again, after a backoff, each time it fails with a `portalHiccup`.
 * Steps must be safe to re-run from their start: a cancellation re-reads the circuit first.
 * When the portal is still down after the last attempt, throws PORTAL_UNAVAILABLE (retryable).
 */
export async function withPortalRetry<T>(
  ctx: Pick<ProviderSessionContext, 'retry' | 'logger'>,
  operation: string,
  step: (attempt: number) => Promise<T>,
): Promise<T> {
  const policy = { ...defaultRetryPolicy, ...ctx.retry };
  let last: RpaError | undefined;
  for (let attempt = 1; attempt <= policy.attempts; attempt++) {
    try {
      return await step(attempt);
    } catch (thrown) {
      if (!isHiccup(thrown)) throw thrown;
      last = thrown;
      if (attempt === policy.attempts) break;
      const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      const wait = Math.round(backoff / 2 + Math.random() * (backoff / 2));
      ctx.logger.warn({ operation, attempt, of: policy.attempts, wait_ms: wait }, `portal unavailable during ${operation}, retrying`);
      await delay(wait, undefined, { ref: false });
    }
  }
  throw new RpaError(
    'PORTAL_UNAVAILABLE',
    `portal stayed unavailable during ${operation} after ${policy.attempts} attempts (${last?.message ?? 'no answer'})`,
    { retryable: true, cause: last, details: { attempts: policy.attempts } },
  );
}
