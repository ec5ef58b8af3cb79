import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { findActiveKeyByHash, insertApiKey, type ApiKeyIdentity } from '../../db/api-key-store.js';
import type { Db } from '../../db/database.js';
import type { KeyRole } from '../../db/schema.js';
import { RpaError } from '../../errors/failures.js';

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

/** Makes a key for `name` and stores its hash; the key is returned once, here. CONFLICT when the name is taken. */
export async function createApiKey(db: Db, name: string, role: KeyRole): Promise<{ key: string; name: string; role: KeyRole }> {
  const key = generateApiKey();
  if (!(await insertApiKey(db, { name, role, prefix: keyPrefix(key), hash: hashApiKey(key) }))) {
    throw new RpaError('CONFLICT', `an API key named "${name}" already exists`, { field: 'name' });
  }
  return { key, name, role };
}

/** Who holds `key`, when it is stored and not revoked. */
export function findActiveKey(db: Db, key: string): Promise<ApiKeyIdentity | undefined> {
  return findActiveKeyByHash(db, hashApiKey(key));
}
