/** Fault and session settings of one portal, set through `POST /__sandbox/config`. */
export interface PortalConfig {
  latency_ms: number;
  login_delay_ms: number;
  error_rate: number;
  session_idle_s: number;
  max_sessions: number;
  totp_window: number;
  /** The portal has been redesigned: its circuit pages no longer match SPEC.md's selectors (core/drift.ts). */
  drift: boolean;
}

export const DEFAULT_PORTAL_CONFIG: Readonly<PortalConfig> = Object.freeze({
  latency_ms: 0,
  login_delay_ms: 0,
  error_rate: 0,
  session_idle_s: 600,
  max_sessions: 5,
  totp_window: 1,
  drift: false,
});

type NumericKey = Exclude<keyof PortalConfig, 'drift'>;
type BooleanKey = 'drift';

interface Range {
  min: number;
  max: number;
  integer: boolean;
}

/** Accepted range per numeric key; anything outside answers 400. */
const RANGES: Record<NumericKey, Range> = {
  latency_ms: { min: 0, max: 600_000, integer: true },
  login_delay_ms: { min: 0, max: 600_000, integer: true },
  error_rate: { min: 0, max: 1, integer: false },
  // Fractions allowed so tests can expire sessions in well under a second if they want.
  session_idle_s: { min: 0.001, max: 7 * 86_400, integer: false },
  max_sessions: { min: 1, max: 10_000, integer: true },
  totp_window: { min: 0, max: 10, integer: true },
};

const BOOLEANS: readonly BooleanKey[] = ['drift'];

/**
 * Checks a config patch: every key known, every value of its type (numbers in range, `drift`
 * true or false). Returns the patch or the error text naming the first bad key.
 */
export function parseConfigPatch(body: unknown): { ok: true; patch: Partial<PortalConfig> } | { ok: false; error: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, error: 'body must be a JSON object' };
  const patch: Partial<PortalConfig> = {};
  for (const [key, value] of Object.entries(body)) {
    if ((BOOLEANS as readonly string[]).includes(key)) {
      if (typeof value !== 'boolean') return { ok: false, error: `${key} must be true or false` };
      patch[key as BooleanKey] = value;
      continue;
    }
    if (!Object.hasOwn(RANGES, key)) return { ok: false, error: `unknown config key "${key}"` };
    const range = RANGES[key as NumericKey];
    if (typeof value !== 'number' || !Number.isFinite(value)) return { ok: false, error: `${key} must be a number` };
    if (range.integer && !Number.isInteger(value)) return { ok: false, error: `${key} must be a whole number` };
    if (value < range.min || value > range.max) return { ok: false, error: `${key} must be between ${range.min} and ${range.max}` };
    patch[key as NumericKey] = value;
  }
  return { ok: true, patch };
}
