/**
 * Every failure the system knows, declared once: its code, whether trying again can help,
 * how far a retry reaches, the HTTP status it answers with, and what it means to BullMQ.
 * Throw sites name a code, a message and a cause; what happens next is decided here alone.
 *
 * Retry scopes, from the narrowest:
 * - `page`: the same page step again, after a backoff, up to the page budget (a 503, a reset).
 * - `session`: the batch logs in again once (fresh TOTP step), then redoes the step.
 * - `browser`: a context on another browser, a new login, the job once more.
 * - `login`: the login itself failed; the batch's jobs wait for a later batch (no attempt is
 *   counted) and the provider's login breaker counts it.
 * - `job`: the job goes back to a later batch after a backoff, one attempt counted, until
 *   `JOB_MAX_ATTEMPTS`.
 * - `batch`: the batch run as a whole is tried again (infrastructure trouble); its jobs keep
 *   their place.
 * - `delivery`: a callback delivery, retried on its own queue.
 * - `request`: an API request refused for now; the client may send it again later (after the
 *   answer's `Retry-After`).
 * - `none`: final. A request is refused; a job fails now with this error.
 */
export type RetryScope = 'page' | 'session' | 'browser' | 'login' | 'job' | 'batch' | 'delivery' | 'request' | 'none';

/** What a failure means to BullMQ, where it means something special. */
export type BullMqMeaning = 'unrecoverable' | 'delayed' | 'rate-limit';

export interface FailurePolicy {
  retryable: boolean;
  scope: RetryScope;
  /** Status of an HTTP answer that carries this failure (API, browser pool). */
  http: number;
  bullmq?: BullMqMeaning;
  /** One line for docs/architecture.md and operators. */
  meaning: string;
}

const policy = (retryable: boolean, scope: RetryScope, http: number, meaning: string, bullmq?: BullMqMeaning): FailurePolicy =>
  Object.freeze({ retryable, scope, http, meaning, ...(bullmq ? { bullmq } : {}) });

/** The failure table. docs/architecture.md prints it; test/errors checks both agree. */
export const FAILURES = Object.freeze({
  // Requests
  VALIDATION_FAILED: policy(false, 'none', 400, 'bad input: the field named is missing, of the wrong type or out of range', 'unrecoverable'),
  UNAUTHENTICATED: policy(false, 'none', 401, 'no key, or an unknown or revoked one'),
  FORBIDDEN: policy(false, 'none', 403, 'the key\'s role may not do this'),
  NOT_FOUND: policy(false, 'none', 404, 'no such object'),
  CONFLICT: policy(false, 'none', 409, 'the object is not in a state that allows this'),
  PAYLOAD_TOO_LARGE: policy(false, 'none', 413, 'the request body is too large'),
  CALLBACK_URL_FORBIDDEN: policy(false, 'none', 400, 'a callback URL the SSRF guard refuses'),
  RATE_LIMITED: policy(true, 'request', 429, 'too many requests, jobs or failed logins for this key or address in the window; try again after Retry-After'),
  // Our own infrastructure
  CONFIG_INVALID: policy(false, 'none', 500, 'a setting is missing or wrong; fix it and restart', 'unrecoverable'),
  STARTUP_FAILED: policy(false, 'none', 500, 'this process could not start (a port taken, a data folder in use or damaged, a program missing); the message says what to do'),
  SERVICE_UNAVAILABLE: policy(true, 'batch', 503, 'Postgres, Valkey or a browser pool did not answer; tried again later'),
  INTERNAL: policy(false, 'none', 500, 'a bug: anything thrown that is not one of ours'),
  // Browsers
  BROWSER_GONE: policy(true, 'browser', 503, 'the browser crashed, was killed or disconnected under the batch'),
  BROWSER_POOL_EXHAUSTED: policy(true, 'batch', 429, 'every browser is at its context limit, or none became ready in time'),
  BROWSER_VERSION_MISMATCH: policy(false, 'none', 500, 'the pool runs another playwright-core than the client', 'unrecoverable'),
  KUBERNETES_API_REFUSED: policy(false, 'none', 500, 'the Kubernetes API refused a request for good (4xx: RBAC, a bad spec)'),
  // Portals
  PORTAL_HICCUP: policy(true, 'page', 503, 'one portal answer was a 503 or a reset connection'),
  PORTAL_UNAVAILABLE: policy(true, 'job', 503, 'the portal stayed down or did not answer in time'),
  SESSION_LOST: policy(true, 'session', 503, 'the portal session expired or was ended'),
  LOGIN_REFUSED: policy(false, 'login', 502, 'the portal refused the credentials (or the account is locked)', 'unrecoverable'),
  TOO_MANY_SESSIONS: policy(true, 'login', 502, 'the portal refused a login: "Too many active sessions"', 'delayed'),
  TOTP_REFUSED: policy(false, 'login', 502, 'the portal refused the verification codes as invalid'),
  TOTP_REUSED: policy(true, 'login', 502, 'the portal refused a code as already used (another login took the step)'),
  TOTP_STEP_TAKEN: policy(true, 'login', 503, 'no free TOTP step within the queue limit'),
  PAGE_CONTRACT_MISMATCH: policy(false, 'none', 502, 'a portal page does not look as SPEC.md says; a run of them (or the batch-start canary) pauses the provider for contract drift, and the job waits'),
  RESUME_REFUSED: policy(false, 'none', 409, 'a provider paused for contract drift stays paused: the canary found its pages still do not match'),
  DEADLINE_EXCEEDED: policy(false, 'none', 504, 'the job\'s deadline passed before it could start: it was not run late'),
  PROCESSOR_CRASHED: policy(false, 'none', 500, 'the job was in hand each time its batch processor died, JOB_MAX_ATTEMPTS times'),
  RUN_SUPERSEDED: policy(false, 'none', 409, 'another run took the batch (this one was frozen or cut off): it stops and touches nothing'),
  INVALID_CIRCUIT: policy(false, 'none', 400, 'the circuit number does not match the provider\'s format'),
  CANCELLATION_REFUSED: policy(false, 'none', 502, 'the portal refused the cancellation form'),
  // Evidence
  EVIDENCE_UNAVAILABLE: policy(true, 'batch', 503, 'the evidence store did not answer or refused (its endpoint, bucket or credentials); the message never names a secret'),
  AUDIT_MISMATCH: policy(false, 'none', 409, 'a job\'s stored evidence or events no longer match its audit chain (rpa evidence verify names the item)'),
  // Callbacks
  CALLBACK_FAILED: policy(true, 'delivery', 502, 'the receiver did not take the callback; retried with backoff'),
} satisfies Record<string, FailurePolicy>);

export type ErrorCode = keyof typeof FAILURES;

export const ERROR_CODES = Object.keys(FAILURES) as ErrorCode[];

export function policyOf(code: ErrorCode): FailurePolicy {
  return FAILURES[code];
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(FAILURES, value);
}

export interface RpaErrorOptions {
  cause?: unknown;
  /** The input field the error is about (API validation errors). */
  field?: string;
  details?: Record<string, unknown>;
}

/** What an error looks like on the wire (API, browser pool). Messages of INTERNAL errors are not shown. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  field: string | null;
  retryable: boolean;
}

/**
 * The one error type of the system: a code from the table, a message, and a cause. The code's
 * policy (above) says what happens next.
 */
export class RpaError extends Error {
  readonly code: ErrorCode;
  readonly field?: string;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: RpaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RpaError';
    this.code = code;
    this.field = options.field;
    this.details = options.details;
  }

  get policy(): FailurePolicy {
    return FAILURES[this.code];
  }

  get retryable(): boolean {
    return FAILURES[this.code].retryable;
  }

  get scope(): RetryScope {
    return FAILURES[this.code].scope;
  }

  /** The same failure with other details (e.g. evidence collected on the way out). */
  withDetails(details: Record<string, unknown>): RpaError {
    return new RpaError(this.code, this.message, { cause: this, field: this.field, details: { ...this.details, ...details } });
  }

  toJSON(): ErrorBody {
    return { code: this.code, message: this.message, field: this.field ?? null, retryable: this.retryable };
  }
}

export function isRpaError(thrown: unknown, code?: ErrorCode): thrown is RpaError {
  return thrown instanceof RpaError && (code === undefined || thrown.code === code);
}

/** True when `thrown` is ours and its code's retry scope is `scope`. */
export function hasScope(thrown: unknown, scope: RetryScope): thrown is RpaError {
  return thrown instanceof RpaError && FAILURES[thrown.code].scope === scope;
}
