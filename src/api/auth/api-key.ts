import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A new API key: shown once, stored only as its hash. */
export function generateApiKey(): string {
  return `rpa_${randomBytes(24).toString('base64url')}`;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** The first characters, kept to recognise a key in listings; not enough to use it. */
export function keyPrefix(key: string): string {
  return key.slice(0, 8);
}

export function sameKey(a: string, b: string): boolean {
  const ha = Buffer.from(hashApiKey(a), 'hex');
  const hb = Buffer.from(hashApiKey(b), 'hex');
  return timingSafeEqual(ha, hb);
}
