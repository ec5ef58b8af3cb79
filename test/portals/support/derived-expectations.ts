/**
 * The contract's derivation table written out independently of src/ (SPEC.md "Circuit
 * data"), so the portal tests compare against the spec, not against the code under test.
 */
export interface ExpectedCircuit {
  status: 'active' | 'pending' | 'suspended' | 'cancelled';
  customer: string;
  address: string;
  speed: string;
  reference: string | null;
}

const SPEEDS = ['25/25 Mbps', '50/50 Mbps', '100/50 Mbps', '200/100 Mbps', '1000/500 Mbps'];

export function expectedCircuit(circuitNumber: string, prefix: string): ExpectedCircuit | undefined {
  const D = circuitNumber.replace(/[^0-9]/g, '');
  const d = Number(D.at(-1));
  const e = Number(D.at(-2));
  if (d === 0) return undefined;
  const status = d <= 6 ? 'active' : d === 7 ? 'pending' : d === 8 ? 'suspended' : 'cancelled';
  return {
    status,
    customer: `Customer ${D}`,
    address: `${(Number(D) % 997) + 1} Fibre Street, Cape Town`,
    speed: SPEEDS[e % 5]!,
    reference: status === 'cancelled' ? `${prefix}-CAN-9${D.slice(-5)}` : null,
  };
}

/** Local date as YYYY-MM-DD, `offsetDays` from today. */
export function isoDay(offsetDays = 0): string {
  const d = new Date();
  d.setDate(d.getDate() + offsetDays);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/** Local date as DD/MM/YYYY, `offsetDays` from today. */
export function dmyDay(offsetDays = 0): string {
  const [y, m, d] = isoDay(offsetDays).split('-');
  return `${d}/${m}/${y}`;
}

/** Resolves after `ms` (for waiting out a session idle timeout, never for page readiness). */
export function elapse(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
