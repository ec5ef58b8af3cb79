import { findDescriptor } from '../../src/providers/descriptors.js';

/** What SPEC.md's derivation rule says about an unseeded circuit number. */
export function derivedCircuit(provider: string, circuit: string) {
  const digits = circuit.replace(/\D/g, '');
  const d = Number(digits.at(-1));
  const e = Number(digits.at(-2));
  const prefix = findDescriptor(provider)!.referencePrefix;
  const status = d === 0 ? null : d <= 6 ? 'active' : d === 7 ? 'pending' : d === 8 ? 'suspended' : 'cancelled';
  const speeds = ['25/25 Mbps', '50/50 Mbps', '100/50 Mbps', '200/100 Mbps', '1000/500 Mbps'];
  return {
    found: status !== null,
    status,
    customer: `Customer ${digits}`,
    address: `${(Number(BigInt(digits) % 997n) + 1)} Fibre Street, Cape Town`,
    speed: speeds[e % 5]!,
    reference: status === 'cancelled' ? `${prefix}-CAN-9${digits.slice(-5)}` : null,
  };
}

export function expectedValidation(provider: string, circuit: string): Record<string, unknown> {
  const c = derivedCircuit(provider, circuit);
  if (!c.found) return { found: false, circuit_number: circuit };
  return { found: true, circuit_number: circuit, status: c.status, customer: c.customer, address: c.address, speed: c.speed, cancellation_reference: c.reference };
}
