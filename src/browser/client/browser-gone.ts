import { RpaError, isRpaError } from '../../errors/failures.js';

/**
 * What Playwright says when the browser, its connection or the context went away under us
 * (crash, kill, pool retirement, network cut). Matched on the message because Playwright
 * throws plain Errors for all of these.
 */
const GONE_PATTERNS: readonly RegExp[] = [
  /Target page, context or browser has been closed/i,
  /Target closed/i,
  /browser has disconnected/i,
  /Browser has been closed/i,
  /Browser closed/i,
  /Connection closed/i,
  /WebSocket (?:error|was closed)/i,
  /socket hang up/i,
  /ECONNREFUSED|ECONNRESET|EPIPE/,
];

/** True when the error means the browser (or our connection to it) is gone: re-lease and retry. */
export function isBrowserGone(err: unknown): boolean {
  if (isRpaError(err, 'BROWSER_GONE')) return true;
  // An automation may have wrapped Playwright's error ("browser failed while loading …").
  if (isRpaError(err)) return err.cause !== undefined && err.cause !== err && isBrowserGone(err.cause);
  const message = err instanceof Error ? err.message : typeof err === 'string' ? err : '';
  return GONE_PATTERNS.some((pattern) => pattern.test(message));
}

/**
 * A BROWSER_GONE error. The cause's message is cut to its first line: Playwright's call
 * logs after it can carry the browser's ws endpoint, whose path is a secret.
 */
export function browserGoneError(browserId: string, cause?: unknown): RpaError {
  return new RpaError('BROWSER_GONE', `browser ${browserId} is gone (crashed, killed or disconnected); lease another browser`, {
    cause: cause === undefined ? undefined : scrubbedCause(cause),
    details: { browserId },
  });
}

/** Keeps the first line of a Playwright error and removes anything that looks like a ws URL. */
export function scrubbedCause(cause: unknown): Error {
  const message = cause instanceof Error ? cause.message : String(cause);
  const firstLine = (message.split('\n')[0] ?? '').replace(/wss?:\/\/\S+/g, 'ws://[redacted]');
  const error = new Error(firstLine);
  error.name = cause instanceof Error ? cause.name : 'Error';
  return error;
}
