import { createHmac } from 'node:crypto';

/** RFC 6238 parameters the portals use: HMAC-SHA1, 6 digits, 30 s steps. */
export const TOTP_STEP_SECONDS = 30;
const DIGITS = 6;

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Decodes RFC 4648 base32 (case-insensitive, padding and spaces ignored). */
export function decodeBase32(text: string): Buffer {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const char of clean) {
    const index = BASE32.indexOf(char);
    if (index < 0) throw new Error('TOTP secret is not base32');
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The RFC 6238 time step (30 s) a moment falls in. */
export function totpStep(atMs: number = Date.now()): number {
  return Math.floor(atMs / 1000 / TOTP_STEP_SECONDS);
}

/** The 6-digit code of one step (RFC 4226 dynamic truncation over the step counter). */
export function totpCodeForStep(key: Buffer, step: number): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = (mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** DIGITS;
  return String(binary).padStart(DIGITS, '0');
}

/** A verification's outcome: accepted (and now spent), a replay of a spent step, or no match in the window. */
export type TotpCheck = { kind: 'ok'; step: number } | { kind: 'reused'; step: number } | { kind: 'invalid' };

/**
 * Checks codes for one account: accepted when the code belongs to a step within ± window of
 * now and that step was not accepted before; an accepted step is remembered until reset.
 */
export class TotpVerifier {
  private readonly key: Buffer;
  private readonly usedSteps = new Set<number>();

  constructor(secretBase32: string) {
    this.key = decodeBase32(secretBase32);
  }

  verify(code: string, window: number, atMs: number = Date.now()): TotpCheck {
    const trimmed = code.trim();
    if (!/^\d{6}$/.test(trimmed)) return { kind: 'invalid' };
    const now = totpStep(atMs);
    let reused: number | undefined;
    for (let delta = -window; delta <= window; delta++) {
      const step = now + delta;
      if (totpCodeForStep(this.key, step) !== trimmed) continue;
      if (!this.usedSteps.has(step)) {
        this.usedSteps.add(step);
        return { kind: 'ok', step };
      }
      reused = step;
    }
    return reused === undefined ? { kind: 'invalid' } : { kind: 'reused', step: reused };
  }

  clear(): void {
    this.usedSteps.clear();
  }
}
