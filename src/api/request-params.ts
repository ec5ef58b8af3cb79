import type { RequestHandler } from 'express';
import { RpaError } from '../errors/failures.js';
import { isCleanText } from '../http/request-schema.js';

/** Parsing of path and query parameters: each bad one is a 400 naming it. */
export function idParam(value: unknown, field = 'id'): string {
  if (typeof value !== 'string' || !/^[1-9]\d{0,17}$/.test(value)) {
    throw new RpaError('VALIDATION_FAILED', `${field}: must be a positive integer`, { field });
  }
  return value;
}

/**
 * The query string of a route, held to the parameters it takes: an unknown one (a typo such as
 * `?stauts=failed` would otherwise list everything), one given twice, or one that is not clean
 * text is a 400 naming it.
 */
export function strictQuery(query: unknown, allowed: readonly string[]): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries((query ?? {}) as Record<string, unknown>)) {
    const field = isCleanText(key) && key.length <= 64 ? key : JSON.stringify(key.slice(0, 64));
    if (!allowed.includes(key)) {
      throw new RpaError('VALIDATION_FAILED', `${field}: unknown query parameter${allowed.length ? ` (this route takes ${allowed.join(', ')})` : ' (this route takes none)'}`, { field });
    }
    if (typeof value !== 'string') throw new RpaError('VALIDATION_FAILED', `${field}: must be given once`, { field });
    if (!isCleanText(value) || value.length > 200) throw new RpaError('VALIDATION_FAILED', `${field}: must be at most 200 characters of text (no control characters)`, { field });
    out[key] = value === '' ? undefined : value;
  }
  return out;
}

/** For routes that take no query string. */
export const noQuery: RequestHandler = (req, _res, next) => {
  strictQuery(req.query, []);
  next();
};


export function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], field: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new RpaError('VALIDATION_FAILED', `${field}: must be one of ${allowed.join(', ')}`, { field });
  }
  return value as T;
}

export function limitParam(value: string | undefined, fallback = 50, max = 500): number {
  if (value === undefined) return fallback;
  if (!/^\d{1,6}$/.test(value) || Number(value) < 1 || Number(value) > max) {
    throw new RpaError('VALIDATION_FAILED', `limit: must be a whole number from 1 to ${max}`, { field: 'limit' });
  }
  return Number(value);
}

/** The earliest and latest moments a `since` may name (Postgres' and JavaScript's ranges both hold them). */
const EARLIEST = Date.UTC(1970, 0, 1);
const LATEST = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** `2h`, `30m`, `7d`, `1w`, `45s` or an ISO timestamp → the moment it names (from 1970 to 9999). */
export function sinceParam(value: string | undefined, field = 'since', now = Date.now()): Date | undefined {
  if (value === undefined) return undefined;
  const refuse = () => new RpaError('VALIDATION_FAILED', `${field}: must be a duration like 2h or an ISO timestamp, back to 1970 at most`, { field });
  const m = /^(\d{1,12})(s|m|h|d|w)$/.exec(value);
  let ms: number;
  if (m) {
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd' | 'w'];
    ms = now - Number(m[1]) * unit;
  } else {
    if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) throw refuse();
    ms = new Date(value).getTime();
  }
  if (!Number.isFinite(ms) || ms < EARLIEST || ms > LATEST) throw refuse();
  return new Date(ms);
}

/** A body that must say nothing: absent, or `{}`. */
export function emptyBody(body: unknown): void {
  if (body === undefined) return;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new RpaError('VALIDATION_FAILED', 'body: must be empty or {}', { field: 'body' });
  const [first] = Object.keys(body);
  if (first !== undefined) throw new RpaError('VALIDATION_FAILED', `${first.slice(0, 80)}: unknown field (this request takes no body)`, { field: first.slice(0, 80) });
}

