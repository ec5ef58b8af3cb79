import type { ValidationResult } from './provider.js';

export type CircuitStatus = Extract<ValidationResult, { found: true }>['status'];

const STATUSES: readonly CircuitStatus[] = ['active', 'pending', 'suspended', 'cancelled'];

/**
 * A status as a portal shows it ("ACTIVE", "Active", " active ") in lower case, or undefined
 * when it is none of the contract's statuses.
 */
export function normaliseStatus(shown: string): CircuitStatus | undefined {
  const status = shown.trim().toLowerCase() as CircuitStatus;
  return STATUSES.includes(status) ? status : undefined;
}

export function isCancellable(status: CircuitStatus): boolean {
  return status !== 'cancelled';
}
