import { RpaError } from '../errors/failures.js';
import type { ProviderDescriptor } from './provider.js';

/**
 * The circuit number, trimmed, when it matches the provider's format; INVALID_CIRCUIT otherwise,
 * before any page is loaded.
 */
export function checkedCircuitNumber(descriptor: ProviderDescriptor, circuitNumber: string): string {
  const trimmed = String(circuitNumber ?? '').trim();
  if (!descriptor.circuitPattern.test(trimmed)) {
    throw invalidCircuit(descriptor, trimmed);
  }
  return trimmed;
}

export function invalidCircuit(descriptor: ProviderDescriptor, circuitNumber: string, portalSays?: string): RpaError {
  const shown = circuitNumber.length > 40 ? `${circuitNumber.slice(0, 40)}…` : circuitNumber;
  const why = portalSays ? `the ${descriptor.label} portal says "${portalSays}"` : `it does not match ${descriptor.circuitPattern.source}`;
  return new RpaError('INVALID_CIRCUIT', `invalid ${descriptor.label} circuit number "${shown}": ${why}`, {
    field: 'circuit_number',
  });
}
