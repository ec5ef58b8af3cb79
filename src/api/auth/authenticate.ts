import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { findActiveKey, sameKey } from './api-key.js';
import { can, type Permission } from './roles.js';
import type { Db } from '../../db/database.js';
import type { ApiKeyIdentity } from '../../db/api-key-store.js';
import type { KeyRole } from '../../db/schema.js';
import { RpaError } from '../../errors/failures.js';

declare module 'express-serve-static-core' {
  interface Request {
    identity?: ApiKeyIdentity;
  }
}

/** The key a request carries: `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
export function presentedKey(req: Request): string | undefined {
  const header = req.get('authorization');
  if (header) {
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (m) return m[1];
  }
  return req.get('x-api-key') ?? undefined;
}

/** Resolves a key to who holds it: the bootstrap admin key (RPA_API_KEY) or a stored, unrevoked key. */
export async function identify(db: Db, bootstrapKey: string | undefined, key: string): Promise<ApiKeyIdentity | undefined> {
  if (bootstrapKey && sameKey(key, bootstrapKey)) return { name: 'bootstrap-admin', role: 'admin' as KeyRole };
  return findActiveKey(db, key);
}

export function authenticate(db: Db, bootstrapKey: string | undefined): RequestHandler {
  return async (req: Request, _res: Response, next: NextFunction) => {
    try {
      const key = presentedKey(req);
      if (!key) throw new RpaError('UNAUTHENTICATED', 'an API key is required (Authorization: Bearer <key> or X-API-Key)');
      const identity = await identify(db, bootstrapKey, key);
      if (!identity) throw new RpaError('UNAUTHENTICATED', 'the API key is unknown or revoked');
      req.identity = identity;
      next();
    } catch (error) {
      next(error);
    }
  };
}

export function requirePermission(permission: Permission): RequestHandler {
  return (req, _res, next) => {
    const identity = req.identity;
    if (!identity) return next(new RpaError('UNAUTHENTICATED', 'an API key is required'));
    if (!can(identity.role, permission)) return next(new RpaError('FORBIDDEN', `role ${identity.role} may not do this (${permission})`));
    next();
  };
}
