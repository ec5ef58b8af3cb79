import { createGuardrails, generateSync } from 'otplib';
import { RpaError } from '../errors/failures.js';

/** RFC 6238 time step length used by every portal here (otplib's default). */
export const TOTP_PERIOD_MS = 30_000;

/**
 * otplib refuses secrets under 16 bytes by default (RFC 4226's recommendation). Portals hand
 * out what they hand out; 10 bytes (16 base32 characters) is the classic authenticator length.
 */
const guardrails = createGuardrails({ MIN_SECRET_BYTES: 10 });

/** The time step that contains `ms` (Unix milliseconds). */
export function stepAt(ms: number): number {
  return Math.floor(ms / TOTP_PERIOD_MS);
}

/** Unix milliseconds at which `step` begins. */
export function stepStartMs(step: number): number {
  return step * TOTP_PERIOD_MS;
}

/**
 * The 6-digit HMAC-SHA1 code of `step` (RFC 6238, 30 s). Throws VALIDATION_FAILED for a
 * secret otplib cannot use; the error never carries the secret or otplib's message (which
 * quotes the offending characters).
 */
export function totpCodeForStep(secret: string, step: number): string {
  try {
    return generateSync({ secret, epoch: stepStartMs(step) / 1000, guardrails });
  } catch (thrown) {
    const kind = thrown instanceof Error ? thrown.name : 'unknown error';
    throw new RpaError('VALIDATION_FAILED', `TOTP secret is not usable (${kind}): expected base32 of at least 10 bytes`, {
      field: 'totpSecret',
    });
  }
}
