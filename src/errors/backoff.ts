/** How long to wait before retry `attempt` (1 = the first retry). */
export interface BackoffPolicy {
  baseMs: number;
  /** Ceiling of the nominal wait (default: none). */
  maxMs?: number;
  /** Share of the nominal wait taken off at random, 0..1 (default 0.5: "equal jitter"). */
  jitter?: number;
}

/**
 * The one backoff of the system (portal pages, jobs, batch runs, callbacks, pool leases):
 * base · 2^(attempt−1), capped at maxMs, less a random share of up to `jitter` of it, so that
 * retries of many jobs spread out. `random` in [0, 1) may be given to make the jitter
 * repeatable (callbacks derive it from the job, so the recorded next attempt is BullMQ's).
 */
export function backoffMs(attempt: number, policy: BackoffPolicy, random: number = Math.random()): number {
  const nominal = Math.min(policy.maxMs ?? Number.POSITIVE_INFINITY, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  const jitter = Math.min(1, Math.max(0, policy.jitter ?? 0.5));
  return Math.max(0, Math.round(nominal * (1 - jitter * random)));
}
