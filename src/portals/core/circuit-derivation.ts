import type { Circuit, CircuitStatus } from './circuit.js';

export const SPEEDS = ['25/25 Mbps', '50/50 Mbps', '100/50 Mbps', '200/100 Mbps', '1000/500 Mbps'] as const;

/**
 * The circuit a valid, unseeded number stands for (SPEC.md "Circuit data"), or undefined when
 * its last digit is 0 (not found). `D` is all digits of the number as one string.
 */
export function deriveCircuit(circuitNumber: string, prefix: string): Circuit | undefined {
  const D = circuitNumber.replace(/\D/g, '');
  const d = Number(D[D.length - 1]);
  const e = Number(D[D.length - 2] ?? '0');
  let status: CircuitStatus;
  if (d === 0) return undefined;
  else if (d <= 6) status = 'active';
  else if (d === 7) status = 'pending';
  else if (d === 8) status = 'suspended';
  else status = 'cancelled';
  return {
    circuitNumber,
    status,
    customer: `Customer ${D}`,
    address: `${derivedHouseNumber(D)} Fibre Street, Cape Town`,
    speed: SPEEDS[e % 5]!,
    reference: status === 'cancelled' ? `${prefix}-CAN-9${D.slice(-5)}` : null,
  };
}

/** (int(D) mod 997) + 1, exact for any length of D. */
function derivedHouseNumber(D: string): number {
  return Number(BigInt(D) % 997n) + 1;
}
