import { decodeBase32, totpCodeForStep, totpStep } from '../../../src/portals/core/totp.js';

/** The code of the step `offset` steps from now. */
export function codeAt(secret: string, offset = 0): string {
  return totpCodeForStep(decodeBase32(secret), totpStep() + offset);
}

/** A 6-digit code that matches no step in ±`window` of now. */
export function wrongCode(secret: string, window = 3): string {
  const valid = new Set<string>();
  for (let d = -window; d <= window; d++) valid.add(codeAt(secret, d));
  for (let n = 0; ; n++) {
    const candidate = String(n).padStart(6, '0');
    if (!valid.has(candidate)) return candidate;
  }
}

/** Waits, if needed, until at least `marginMs` remain in the current TOTP step, so offsets stay meaningful. */
export async function awayFromStepBoundary(marginMs = 2000): Promise<void> {
  const intoStep = Date.now() % 30_000;
  if (30_000 - intoStep < marginMs) await new Promise((r) => setTimeout(r, 30_000 - intoStep + 50));
}
