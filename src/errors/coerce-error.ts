import { RpaError } from './failures.js';

/**
 * Postgres SQLSTATEs that mean "the server is not there right now" (graphile-worker's list,
 * plus class 08, connection exceptions): a refused or cut connection is an outage, not a bug.
 */
const POSTGRES_UNAVAILABLE = /^(08...|57P01|57P02|57P03|53300)$/;
const NETWORK_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
/** What pg and iovalkey say when their server went away (they throw plain Errors). */
const OUTAGE_MESSAGES = [
  /Connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /Client has encountered a connection error/i,
  /Stream isn't writeable/i,
  /Connection is closed/i,
  /the database system is (starting up|shutting down)/i,
];

function isOutage(thrown: Error): boolean {
  const { code, errno } = thrown as { code?: unknown; errno?: unknown };
  if (typeof code === 'string' && (POSTGRES_UNAVAILABLE.test(code) || NETWORK_ERRNO.has(code))) return true;
  if (typeof errno === 'string' && NETWORK_ERRNO.has(errno)) return true;
  if (thrown instanceof AggregateError && thrown.errors.some((e) => e instanceof Error && isOutage(e))) return true;
  return OUTAGE_MESSAGES.some((pattern) => pattern.test(thrown.message));
}

/**
 * Normalises anything thrown into an RpaError: ours as they are, an unreachable Postgres or
 * Valkey as SERVICE_UNAVAILABLE, everything else INTERNAL.
 */
export function coerceError(thrown: unknown): RpaError {
  if (thrown instanceof RpaError) return thrown;
  if (thrown instanceof Error) {
    if (isOutage(thrown)) return new RpaError('SERVICE_UNAVAILABLE', `a service did not answer: ${thrown.message.split('\n')[0]}`, { cause: thrown });
    return new RpaError('INTERNAL', thrown.message, { cause: thrown });
  }
  return new RpaError('INTERNAL', String(thrown));
}
