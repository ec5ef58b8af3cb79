import type { Db } from './database.js';
import type { Role } from './schema.js';
import { generateApiKey, hashApiKey, keyPrefix } from '../api/auth/api-key.js';
import { RpaError } from '../errors/failures.js';

export interface ApiKeyIdentity {
  name: string;
  role: Role;
}

export async function createApiKey(db: Db, name: string, role: Role): Promise<{ key: string; name: string; role: Role }> {
  const key = generateApiKey();
  const inserted = await db
    .insertInto('api_keys')
    .values({ name, role, key_prefix: keyPrefix(key), key_hash: hashApiKey(key) })
    .onConflict((oc) => oc.column('name').doNothing())
    .returning('id')
    .executeTakeFirst();
  if (!inserted) throw new RpaError('CONFLICT', `an API key named "${name}" already exists`, { field: 'name' });
  return { key, name, role };
}

export async function findActiveKey(db: Db, key: string): Promise<ApiKeyIdentity | undefined> {
  const row = await db
    .selectFrom('api_keys')
    .select(['name', 'role'])
    .where('key_hash', '=', hashApiKey(key))
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return row;
}

export async function listApiKeys(db: Db) {
  return db.selectFrom('api_keys').select(['name', 'role', 'key_prefix', 'created_at', 'last_used_at', 'revoked_at']).orderBy('id').execute();
}

/** Revokes by name; returns false when no active key has that name. */
export async function revokeApiKey(db: Db, name: string): Promise<boolean> {
  const result = await db.updateTable('api_keys').set({ revoked_at: new Date() }).where('name', '=', name).where('revoked_at', 'is', null).executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}
