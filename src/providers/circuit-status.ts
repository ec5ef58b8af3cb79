import { RpaError } from '../errors/failures.js';
import type { ValidationResult } from './provider.js';

export type CircuitStatus = Extract<ValidationResult, { found: true }>['status'];

const STATUSES: readonly CircuitStatus[] = ['active', 'pending', 'suspended', 'cancelled'];

/** Normalises a status as a portal shows it ("ACTIVE", "Active", " active ") to lower case. */
export function normaliseStatus(provider: string, shown: string): CircuitStatus {
  const status = shown.trim().toLowerCase() as CircuitStatus;
  if (!STATUSES.includes(status)) {
    throw new RpaError('PAGE_CONTRACT_MISMATCH', `${provider}: unknown circuit status "${shown.trim().slice(0, 40)}"`);
  }
  return status;
}

export function isCancellable(status: CircuitStatus): boolean {
  return status !== 'cancelled';
}
