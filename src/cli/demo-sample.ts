import type { JobAction } from '../db/schema.js';
import { providerNames } from '../providers/descriptors.js';

/** Digits in a circuit number of each provider (SPEC.md "Circuit data"). */
const DIGITS: Record<string, number> = { octotel: 6, openserve: 7, metrofiber: 8, evotel: 6 };

/**
 * A valid circuit number of `provider` whose digits `D` are `n`, zero-padded on the left. On a
 * practice portal its last digit decides what it is (0 not found, 1–6 active, 7 pending,
 * 8 suspended, 9 cancelled), unless it was seeded or cancelled since the portal's last reset.
 */
export function practiceCircuitNumber(provider: string, n: number): string {
  const width = DIGITS[provider];
  if (width === undefined) throw new Error(`no circuit format for provider "${provider}"`);
  const D = String(n).padStart(width, '0');
  if (D.length !== width || !/^\d+$/.test(D)) throw new Error(`${n} does not fit a ${provider} circuit number (${width} digits)`);
  switch (provider) {
    case 'octotel':
      return `OCT${D}`;
    case 'openserve':
      return `OSN${D}`;
    case 'metrofiber':
      return `MFN-${D.slice(0, 4)}-${D.slice(4)}`;
    default:
      return `EVO${D}`;
  }
}

/** What a demo job is expected to show, from its circuit's last digit. */
export type DemoExpectation = 'found' | 'not-found' | 'cancelled' | 'cancel' | 'already-cancelled';

export interface DemoJob {
  provider: string;
  action: JobAction;
  circuit_number: string;
  expect: DemoExpectation;
}

/**
 * One cycle of ten jobs per provider, (action, last digit): five validations and five
 * cancellations, with not-found circuits (0) and cancelled ones (9) for both actions. The other
 * cancellations go to circuits the portal lets you cancel (active, pending, suspended). The rare
 * kinds come first, so three jobs per provider already show an already-cancelled circuit, a
 * not-found one and a new cancellation.
 */
const CYCLE: ReadonlyArray<readonly [JobAction, number]> = [
  ['cancellation', 9],
  ['validation', 0],
  ['cancellation', 3],
  ['validation', 1],
  ['cancellation', 0],
  ['validation', 9],
  ['cancellation', 8],
  ['validation', 7],
  ['cancellation', 7],
  ['validation', 5],
];

/** Most jobs one demo run may submit (the circuit numbers need room for a run seed). */
export const MAX_DEMO_JOBS = 1_000;

/** Digits of the per-provider job index inside a circuit number (before the status digit). */
function indexWidth(perProvider: number): number {
  return String(Math.max(0, perProvider - 1)).length;
}

/** How many different run seeds fit in the numbers of a sample of `jobs` jobs. */
export function seedSpace(jobs: number): number {
  const width = indexWidth(Math.ceil(jobs / providerNames().length));
  return 10 ** (Math.min(...Object.values(DIGITS)) - width - 1);
}

/**
 * `jobs` jobs spread round-robin over the four providers. A circuit's digits are
 * `<seed><index><status digit>`: a new `seed` per run gives circuits no earlier run has
 * cancelled, so a second run shows the same mix.
 */
export function demoSample(jobs: number, seed: number): DemoJob[] {
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > MAX_DEMO_JOBS) throw new Error(`jobs must be 1 to ${MAX_DEMO_JOBS}`);
  const names = providerNames();
  const perProvider = Math.ceil(jobs / names.length);
  const width = indexWidth(perProvider);
  if (!Number.isInteger(seed) || seed < 0 || seed >= seedSpace(jobs)) throw new Error(`seed must be 0 to ${seedSpace(jobs) - 1}`);
  const sample: DemoJob[] = [];
  for (let i = 0; i < jobs; i++) {
    const provider = names[i % names.length]!;
    const index = Math.floor(i / names.length);
    const [action, digit] = CYCLE[index % CYCLE.length]!;
    const n = Number(`${seed}${String(index).padStart(width, '0')}${digit}`);
    sample.push({ provider, action, circuit_number: practiceCircuitNumber(provider, n), expect: expectation(action, digit) });
  }
  return sample;
}

function expectation(action: JobAction, digit: number): DemoExpectation {
  if (digit === 0) return 'not-found';
  if (action === 'validation') return digit === 9 ? 'cancelled' : 'found';
  return digit === 9 ? 'already-cancelled' : 'cancel';
}
