import { normaliseStatus } from './circuit-status.js';
import type { ValidationResult } from './provider.js';

export type FoundCircuit = Extract<ValidationResult, { found: true }>;
export type CircuitField = 'status' | 'customer' | 'address' | 'speed';

/**
 * A found circuit as its portal shows it, status normalised. The reference is left null: only a
 * cancelled circuit has one, and each portal shows it somewhere else.
 */
export async function readFoundCircuit(portal: string, circuit: string, read: (field: CircuitField) => Promise<string>): Promise<FoundCircuit> {
  return {
    found: true,
    circuit_number: circuit,
    status: normaliseStatus(portal, await read('status')),
    customer: await read('customer'),
    address: await read('address'),
    speed: await read('speed'),
    cancellation_reference: null,
  };
}
