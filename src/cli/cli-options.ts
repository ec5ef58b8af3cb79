import { InvalidArgumentError } from 'commander';
import { BATCH_STATUSES, JOB_ACTIONS, JOB_STATUSES, type BatchStatus, type JobAction, type JobStatus } from '../db/schema.js';
import { providerNames } from '../providers/descriptors.js';

/**
 * Argument parsers for commander: each rejects a bad value before any command runs, so a
 * typo never reaches the database.
 */

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** A duration like 30s, 30m, 2h, 7d, 1w in milliseconds. */
export function parseDurationMs(value: string): number {
  const m = /^(\d+)([smhdw])$/.exec(value.trim());
  if (!m || Number(m[1]) === 0) throw new InvalidArgumentError('expected a duration like 30s, 30m, 2h or 7d');
  return Number(m[1]) * UNITS[m[2]!]!;
}

/** `--since 2h` (s, m, h, d, w) or an ISO date/time: the moment it names. */
export function parseSince(value: string, now = Date.now()): Date {
  const m = /^(\d+)([smhdw])$/.exec(value.trim());
  if (m) return new Date(now - Number(m[1]) * UNITS[m[2]!]!);
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const date = new Date(value);
    if (!Number.isNaN(date.getTime())) return date;
  }
  throw new InvalidArgumentError('expected a duration like 30m, 2h, 7d or an ISO date');
}

export function parseProvider(value: string): string {
  if (!providerNames().includes(value)) throw new InvalidArgumentError(`unknown provider (one of ${providerNames().join(', ')})`);
  return value;
}

export function parseBatchStatus(value: string): BatchStatus {
  if (!(BATCH_STATUSES as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${BATCH_STATUSES.join(', ')}`);
  return value as BatchStatus;
}

export function parseJobStatus(value: string): JobStatus {
  if (!(JOB_STATUSES as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${JOB_STATUSES.join(', ')}`);
  return value as JobStatus;
}

export function parseAction(value: string): JobAction {
  if (!(JOB_ACTIONS as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${JOB_ACTIONS.join(', ')}`);
  return value as JobAction;
}

/** A job or batch id: a positive integer. */
export function parseId(value: string, previous: string[] = []): string[] {
  if (!/^[1-9]\d{0,17}$/.test(value)) throw new InvalidArgumentError(`"${value}" is not an id (a positive integer)`);
  return [...previous, value];
}

export function parseLimit(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new InvalidArgumentError('expected an integer from 1 to 10000');
  return n;
}

export function parseOneId(value: string): string {
  return parseId(value)[0]!;
}
