/** Circuit states a portal knows ("missing" circuits are simply not found). */
export type CircuitStatus = 'active' | 'pending' | 'suspended' | 'cancelled';

export const CIRCUIT_STATUSES: readonly CircuitStatus[] = ['active', 'pending', 'suspended', 'cancelled'];

/** One circuit as a portal shows it. */
export interface Circuit {
  circuitNumber: string;
  status: CircuitStatus;
  customer: string;
  address: string;
  speed: string;
  /** Cancellation reference; set exactly when status is cancelled. */
  reference: string | null;
}

export function isCancellable(circuit: Circuit): boolean {
  return circuit.status !== 'cancelled';
}

/** Cancellation reasons every portal offers, in this order. */
export const CANCEL_REASONS = ['customer_request', 'non_payment', 'migration', 'other'] as const;
export const CANCEL_REASON_LABELS: Record<(typeof CANCEL_REASONS)[number], string> = {
  customer_request: 'Customer request',
  non_payment: 'Non-payment',
  migration: 'Migration',
  other: 'Other',
};

export function isCancelReason(value: unknown): value is (typeof CANCEL_REASONS)[number] {
  return typeof value === 'string' && (CANCEL_REASONS as readonly string[]).includes(value);
}
