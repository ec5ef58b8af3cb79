import { Router } from 'express';
import type { Db } from '../../db/database.js';
import { listApiKeys, revokeApiKey } from '../../db/api-key-store.js';
import { createApiKey } from '../auth/api-key.js';
import { KEY_ROLES, type KeyRole } from '../../db/schema.js';
import { RpaError } from '../../errors/failures.js';
import { requirePermission } from '../auth/authenticate.js';

export function parseKeyName(value: unknown): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(value)) {
    throw new RpaError('VALIDATION_FAILED', 'name: must be 1 to 64 letters, digits, dots, dashes or underscores', { field: 'name' });
  }
  return value;
}

export function parseRole(value: unknown): KeyRole {
  if (typeof value !== 'string' || !(KEY_ROLES as readonly string[]).includes(value)) {
    throw new RpaError('VALIDATION_FAILED', `role: must be one of ${KEY_ROLES.join(', ')}`, { field: 'role' });
  }
  return value as KeyRole;
}

export function apiKeysRoutes(deps: { db: Db }): Router {
  const router = Router();
  router.use('/api-keys', requirePermission('keys:manage'));
  router.get('/api-keys', async (_req, res) => {
    res.json({ api_keys: await listApiKeys(deps.db) });
  });
  router.post('/api-keys', async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const created = await createApiKey(deps.db, parseKeyName(body.name), parseRole(body.role));
    res.status(201).json(created);
  });
  router.delete('/api-keys/:name', async (req, res) => {
    const name = parseKeyName(req.params.name);
    if (!(await revokeApiKey(deps.db, name))) throw new RpaError('NOT_FOUND', `no active API key named "${name}"`, { field: 'name' });
    res.json({ name, revoked: true });
  });
  return router;
}
