import { Router } from 'express';
import { z } from 'zod';
import type { Db } from '../../db/database.js';
import { listApiKeys, revokeApiKey } from '../../db/api-key-store.js';
import { createApiKey } from '../auth/api-key.js';
import { KEY_ROLES, type KeyRole } from '../../db/schema.js';
import { RpaError } from '../../errors/failures.js';
import { parseWith } from '../../http/request-schema.js';
import { requirePermission } from '../auth/authenticate.js';
import { emptyBody, noQuery } from '../request-params.js';

const KEY_NAME = /^[A-Za-z0-9._-]{1,64}$/;
const NAME_RULE = 'must be 1 to 64 letters, digits, dots, dashes or underscores';

export function parseKeyName(value: unknown): string {
  if (typeof value !== 'string' || !KEY_NAME.test(value)) {
    throw new RpaError('VALIDATION_FAILED', `name: ${NAME_RULE}`, { field: 'name' });
  }
  return value;
}

export function parseRole(value: unknown): KeyRole {
  if (typeof value !== 'string' || !(KEY_ROLES as readonly string[]).includes(value)) {
    throw new RpaError('VALIDATION_FAILED', `role: must be one of ${KEY_ROLES.join(', ')}`, { field: 'role' });
  }
  return value as KeyRole;
}

/** `POST /api-keys`: exactly a name and a role. */
const newKeySchema = z.strictObject({
  name: z.string().regex(KEY_NAME, NAME_RULE),
  role: z.enum(KEY_ROLES as [KeyRole, ...KeyRole[]]),
});

export function apiKeysRoutes(deps: { db: Db }): Router {
  const router = Router();
  router.use('/api-keys', requirePermission('keys:manage'), noQuery);
  router.get('/api-keys', async (_req, res) => {
    res.json({ api_keys: await listApiKeys(deps.db) });
  });
  router.post('/api-keys', async (req, res) => {
    if (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body)) throw new RpaError('VALIDATION_FAILED', 'body: must be a JSON object', { field: 'body' });
    const { name, role } = parseWith(newKeySchema, req.body);
    const created = await createApiKey(deps.db, name, role);
    res.status(201).json(created);
  });
  router.delete('/api-keys/:name', async (req, res) => {
    const name = parseKeyName(req.params.name);
    emptyBody(req.body);
    if (!(await revokeApiKey(deps.db, name))) throw new RpaError('NOT_FOUND', `no active API key named "${name}"`, { field: 'name' });
    res.json({ name, revoked: true });
  });
  return router;
}
