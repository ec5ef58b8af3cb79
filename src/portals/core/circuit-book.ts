import { CIRCUIT_STATUSES, type Circuit, type CircuitStatus } from './circuit.js';
import { deriveCircuit } from './circuit-derivation.js';
import { ReferenceSequence } from './reference-sequence.js';

/** What a lookup finds: a circuit, nothing (`not_found`) or a number in the wrong format. */
export type CircuitLookup = { kind: 'found'; circuit: Circuit } | { kind: 'not_found' } | { kind: 'invalid' };

/** What a cancellation did; `already_cancelled` carries the existing reference. */
export type CancelOutcome =
  | { kind: 'cancelled'; circuit: Circuit }
  | { kind: 'already_cancelled'; circuit: Circuit }
  | { kind: 'not_found' }
  | { kind: 'invalid' };

/** One circuit as the control API seeds it. */
export interface CircuitSeed {
  circuit_number: string;
  status: CircuitStatus | 'missing';
  customer?: string;
  address?: string;
  speed?: string;
}

/**
 * The circuits of one portal: derived from their digits unless seeded, with seeds and
 * cancellations kept as overrides until reset.
 */
export class CircuitBook {
  private readonly overrides = new Map<string, Circuit | 'missing'>();
  private readonly references: ReferenceSequence;

  constructor(
    readonly pattern: RegExp,
    readonly prefix: string,
  ) {
    this.references = new ReferenceSequence(prefix);
  }

  isValidNumber(circuitNumber: string): boolean {
    return this.pattern.test(circuitNumber);
  }

  lookup(circuitNumber: string): CircuitLookup {
    if (!this.isValidNumber(circuitNumber)) return { kind: 'invalid' };
    const override = this.overrides.get(circuitNumber);
    const circuit = override === undefined ? deriveCircuit(circuitNumber, this.prefix) : override === 'missing' ? undefined : override;
    return circuit ? { kind: 'found', circuit: { ...circuit } } : { kind: 'not_found' };
  }

  /** Cancels a cancellable circuit with the next reference; an already-cancelled one keeps its own. */
  cancel(circuitNumber: string): CancelOutcome {
    const found = this.lookup(circuitNumber);
    if (found.kind !== 'found') return found;
    if (found.circuit.status === 'cancelled') return { kind: 'already_cancelled', circuit: found.circuit };
    const circuit: Circuit = { ...found.circuit, status: 'cancelled', reference: this.references.issue() };
    this.overrides.set(circuitNumber, circuit);
    return { kind: 'cancelled', circuit: { ...circuit } };
  }

  /**
   * Seeds or overrides circuits. Validates every seed before applying any, so a bad batch
   * changes nothing. Returns an error text for the first bad seed.
   */
  seed(seeds: unknown[]): { ok: true; count: number } | { ok: false; error: string } {
    const parsed: CircuitSeed[] = [];
    for (const [i, seed] of seeds.entries()) {
      const error = this.seedError(seed);
      if (error) return { ok: false, error: `circuits[${i}]: ${error}` };
      parsed.push(seed as CircuitSeed);
    }
    for (const seed of parsed) {
      if (seed.status === 'missing') {
        this.overrides.set(seed.circuit_number, 'missing');
        continue;
      }
      const derived = deriveCircuit(seed.circuit_number, this.prefix);
      this.overrides.set(seed.circuit_number, {
        circuitNumber: seed.circuit_number,
        status: seed.status,
        customer: seed.customer ?? derived?.customer ?? `Customer ${seed.circuit_number.replace(/\D/g, '')}`,
        address: seed.address ?? derived?.address ?? '',
        speed: seed.speed ?? derived?.speed ?? '',
        reference: seed.status === 'cancelled' ? this.references.issue() : null,
      });
    }
    return { ok: true, count: parsed.length };
  }

  private seedError(seed: unknown): string | undefined {
    if (typeof seed !== 'object' || seed === null || Array.isArray(seed)) return 'must be an object';
    const s = seed as Record<string, unknown>;
    if (typeof s.circuit_number !== 'string' || !this.isValidNumber(s.circuit_number)) {
      return `circuit_number must match ${this.pattern.source}`;
    }
    if (s.status !== 'missing' && !(CIRCUIT_STATUSES as readonly unknown[]).includes(s.status)) {
      return `status must be one of ${[...CIRCUIT_STATUSES, 'missing'].join(', ')}`;
    }
    for (const field of ['customer', 'address', 'speed']) {
      if (s[field] !== undefined && typeof s[field] !== 'string') return `${field} must be a string`;
    }
    return undefined;
  }

  /** Seeded (or cancelled) circuits whose customer or address contains the text, case-insensitively. */
  searchSeeded(field: 'customer' | 'address', text: string): Circuit[] {
    const needle = text.toLowerCase();
    const matches: Circuit[] = [];
    for (const circuit of this.overrides.values()) {
      if (circuit !== 'missing' && circuit[field].toLowerCase().includes(needle)) matches.push({ ...circuit });
    }
    return matches;
  }

  reset(): void {
    this.overrides.clear();
    this.references.reset();
  }
}
