/**
 * Resolves like `promise`, or rejects after `ms` with `timeoutError()` (or, given what is awaited,
 * "<what> timed out after <ms> ms"). The timer is cleared either way and never keeps the process
 * alive. The promise itself is not cancelled.
 */
export async function withTimeout<T>(promise: Promise<T>, ms: number, timeoutError: (() => Error) | string): Promise<T> {
  const fail = typeof timeoutError === 'string' ? () => new Error(`${timeoutError} timed out after ${ms} ms`) : timeoutError;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(fail()), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
