import { createHmac, timingSafeEqual } from 'node:crypto';
import { RpaError } from '../errors/failures.js';

/** The header a callback's signature travels in. */
export const CALLBACK_SIGNATURE_HEADER = 'X-RPA-Signature';

function hmacHex(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/**
 * The `X-RPA-Signature` value for a callback body: `t=<unix seconds>,v1=<hex HMAC-SHA256 of
 * "<t>.<body>">`. The timestamp is signed with the body, so a receiver can refuse replays.
 */
export function signCallback(body: string, secret: string, nowSeconds: number = Math.floor(Date.now() / 1000)): string {
  if (!secret) throw new RpaError('CONFIG_INVALID', 'CALLBACK_SECRET must not be empty');
  const t = Math.floor(nowSeconds);
  return `t=${t},v1=${hmacHex(secret, t, body)}`;
}

/**
 * Checks an `X-RPA-Signature` header against the body and secret: the timestamp must be within
 * `toleranceSeconds` of now and one `v1` must match (compared in constant time). Several `v1`
 * entries are accepted so a sender can sign with an old and a new secret while rotating.
 */
export function verifyCallbackSignature(
  header: string,
  body: string,
  secret: string,
  toleranceSeconds = 300,
  nowSeconds: number = Math.floor(Date.now() / 1000),
): boolean {
  if (!secret || typeof header !== 'string') return false;
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (key === 'v1' && /^[0-9a-f]{64}$/i.test(value)) signatures.push(value.toLowerCase());
  }
  if (timestamp === undefined || signatures.length === 0) return false;
  if (Math.abs(nowSeconds - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(hmacHex(secret, timestamp, body), 'hex');
  let ok = false;
  // Compare every candidate (no early exit), so timing does not tell which one matched.
  for (const candidate of signatures) ok = timingSafeEqual(Buffer.from(candidate, 'hex'), expected) || ok;
  return ok;
}
