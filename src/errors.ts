/**
 * One error type for the whole system: a stable `code`, whether retrying can help,
 * and the underlying cause. Processors decide retry vs fail from `retryable` alone;
 * the API maps codes to HTTP statuses in one place (src/api/error-handler.ts).
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'VALIDATION_FAILED'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'PAYLOAD_TOO_LARGE'
  | 'SERVICE_UNAVAILABLE'
  | 'PORTAL_UNAVAILABLE'
  | 'LOGIN_REFUSED'
  | 'TOO_MANY_SESSIONS'
  | 'TOTP_REFUSED'
  | 'TOTP_STEP_TAKEN'
  | 'SESSION_LOST'
  | 'PAGE_CONTRACT_MISMATCH'
  | 'INVALID_CIRCUIT'
  | 'CANCELLATION_REFUSED'
  | 'BROWSER_GONE'
  | 'BROWSER_POOL_EXHAUSTED'
  | 'BROWSER_VERSION_MISMATCH'
  | 'CALLBACK_URL_FORBIDDEN'
  | 'CALLBACK_FAILED'
  | 'INTERNAL';

export interface RpaErrorOptions {
  retryable?: boolean;
  cause?: unknown;
  /** The input field the error is about (API validation errors). */
  field?: string;
  details?: Record<string, unknown>;
}

export class RpaError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly field?: string;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: RpaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RpaError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.field = options.field;
    this.details = options.details;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, retryable: this.retryable, field: this.field };
  }
}

/** Normalises anything thrown into an RpaError (unknown errors are INTERNAL, not retryable). */
export function coerceError(thrown: unknown): RpaError {
  if (thrown instanceof RpaError) return thrown;
  if (thrown instanceof Error) return new RpaError('INTERNAL', thrown.message, { cause: thrown });
  return new RpaError('INTERNAL', String(thrown));
}

export function isRpaError(thrown: unknown, code?: ErrorCode): thrown is RpaError {
  return thrown instanceof RpaError && (code === undefined || thrown.code === code);
}
