/** Backoff before a job that failed for a passing reason is tried again: base, 2×base, 4×base … up to 10 min, with ±20 % jitter. */
export function retryDelayMs(attempt: number, baseMs: number): number {
  const exp = Math.min(baseMs * 2 ** Math.max(0, attempt - 1), 600_000);
  return Math.round(exp * (0.8 + Math.random() * 0.4));
}
