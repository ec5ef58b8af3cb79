import { RpaError } from '../errors/failures.js';
import { checkedCircuitNumber } from './circuit-number.js';
import type { CancellationParams, ProviderDescriptor } from './provider.js';

export const CANCELLATION_REASONS = ['customer_request', 'non_payment', 'migration', 'other'] as const;
export type CancellationReason = (typeof CANCELLATION_REASONS)[number];

/** Cancellation parameters checked and completed with their defaults. */
export interface CancellationRequest {
  circuitNumber: string;
  reason: CancellationReason;
  /** YYYY-MM-DD */
  effectiveDate: string;
}

/** Today's date on this machine's clock and time zone, as YYYY-MM-DD. */
export function localIsoDate(now: Date = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

/** YYYY-MM-DD → DD/MM/YYYY (MetroFiber's form). */
export function toDayMonthYear(isoDate: string): string {
  const [y, m, d] = isoDate.split('-');
  return `${d}/${m}/${y}`;
}

function isRealIsoDate(value: string): boolean {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!match) return false;
  const [y, m, d] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(y, m - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
}

/**
 * Checks a job's cancellation parameters. Defaults: reason `customer_request`, effective date
 * today. "Today" is the portal's local date (SPEC.md); the robot uses its own clock and time
 * zone, so run it in the portals' time zone.
 */
export function cancellationRequest(descriptor: ProviderDescriptor, params: CancellationParams, now?: Date): CancellationRequest {
  const circuitNumber = checkedCircuitNumber(descriptor, params.circuit_number);
  const reason = (params.reason ?? 'customer_request') as CancellationReason;
  if (!CANCELLATION_REASONS.includes(reason)) {
    throw new RpaError('VALIDATION_FAILED', `reason must be one of ${CANCELLATION_REASONS.join(', ')}`, { field: 'reason' });
  }
  const effectiveDate = params.effective_date ?? localIsoDate(now);
  if (!isRealIsoDate(effectiveDate)) {
    throw new RpaError('VALIDATION_FAILED', 'effective_date must be a date as YYYY-MM-DD', { field: 'effective_date' });
  }
  return { circuitNumber, reason, effectiveDate };
}
