import type { Db } from './database.js';
import type { KeyRole } from './schema.js';

export interface ApiKeyIdentity {
  name: string;
  role: KeyRole;
}

/** Stores a key by its hash; false when the name is taken. The key itself is never stored. */
export async function insertApiKey(db: Db, key: { name: string; role: KeyRole; prefix: string; hash: string }): Promise<boolean> {
  const inserted = await db
    .insertInto('api_keys')
    .values({ name: key.name, role: key.role, key_prefix: key.prefix, key_hash: key.hash })
    .onConflict((oc) => oc.column('name').doNothing())
    .returning('id')
    .executeTakeFirst();
  return inserted !== undefined;
}

export async function findActiveKeyByHash(db: Db, hash: string): Promise<ApiKeyIdentity | undefined> {
  return db.selectFrom('api_keys').select(['name', 'role']).where('key_hash', '=', hash).where('revoked_at', 'is', null).executeTakeFirst();
}

export async function apiKeyNameExists(db: Db, name: string): Promise<boolean> {
  return (await db.selectFrom('api_keys').select('id').where('name', '=', name).executeTakeFirst()) !== undefined;
}

export async function listApiKeys(db: Db) {
  return db.selectFrom('api_keys').select(['name', 'role', 'key_prefix', 'created_at', 'last_used_at', 'revoked_at']).orderBy('id').execute();
}

/** Revokes by name; returns false when no active key has that name. */
export async function revokeApiKey(db: Db, name: string): Promise<boolean> {
  const result = await db.updateTable('api_keys').set({ revoked_at: new Date() }).where('name', '=', name).where('revoked_at', 'is', null).executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}
