import { RpaError } from '../errors/failures.js';

/** Parsing of path and query parameters: each bad one is a 400 naming it. */
export function idParam(value: unknown, field = 'id'): string {
  if (typeof value !== 'string' || !/^[1-9]\d{0,17}$/.test(value)) {
    throw new RpaError('VALIDATION_FAILED', `${field}: must be a positive integer`, { field });
  }
  return value;
}

export function optionalQuery(query: Record<string, unknown>, key: string): string | undefined {
  const value = query[key];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw new RpaError('VALIDATION_FAILED', `${key}: must be given once`, { field: key });
  return value;
}

export function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], field: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new RpaError('VALIDATION_FAILED', `${field}: must be one of ${allowed.join(', ')}`, { field });
  }
  return value as T;
}

export function limitParam(value: string | undefined, fallback = 50, max = 500): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) {
    throw new RpaError('VALIDATION_FAILED', `limit: must be a whole number from 1 to ${max}`, { field: 'limit' });
  }
  return Number(value);
}

/** `2h`, `30m`, `7d`, `45s` or an ISO timestamp → the moment it names. */
export function sinceParam(value: string | undefined, field = 'since', now = Date.now()): Date | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+)(s|m|h|d)$/.exec(value);
  if (m) {
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now - Number(m[1]) * unit);
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new RpaError('VALIDATION_FAILED', `${field}: must be a duration like 2h or an ISO timestamp`, { field });
  return date;
}
