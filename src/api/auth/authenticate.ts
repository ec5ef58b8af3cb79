import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { findActiveKey, hashApiKey, sameKey } from './api-key.js';
import { can, type Permission } from './roles.js';
import type { Db } from '../../db/database.js';
import { findActiveKeyByHash, type ApiKeyIdentity } from '../../db/api-key-store.js';
import type { KeyRole } from '../../db/schema.js';
import { RpaError } from '../../errors/failures.js';
import type { RateLimits } from '../rate-limits.js';

declare module 'express-serve-static-core' {
  interface Request {
    identity?: ApiKeyIdentity;
    /** sha256 of the key the request carried (never the key): to check later that it still holds (`/events`). */
    keyHash?: string;
  }
}

export const BOOTSTRAP_ADMIN: ApiKeyIdentity = Object.freeze({ name: 'bootstrap-admin', role: 'admin' as KeyRole });

/** The key a request carries: `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
export function presentedKey(req: Request): string | undefined {
  const header = req.get('authorization');
  if (header) {
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (m) return m[1];
  }
  return req.get('x-api-key') ?? undefined;
}

/** The client's address as rate limits count it (TRUST_PROXY decides whether X-Forwarded-For is believed). */
export function clientAddress(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}

/** Resolves a key to who holds it: the bootstrap admin key (RPA_API_KEY) or a stored, unrevoked key. */
export async function identify(db: Db, bootstrapKey: string | undefined, key: string): Promise<ApiKeyIdentity | undefined> {
  if (bootstrapKey && sameKey(key, bootstrapKey)) return BOOTSTRAP_ADMIN;
  return findActiveKey(db, key);
}

/** The same from the key's hash: who holds it now, undefined once it is revoked (or RPA_API_KEY changed). */
export async function identifyByHash(db: Db, bootstrapKey: string | undefined, keyHash: string): Promise<ApiKeyIdentity | undefined> {
  if (bootstrapKey && sameKey(keyHash, hashApiKey(bootstrapKey))) return BOOTSTRAP_ADMIN;
  return findActiveKeyByHash(db, keyHash);
}

/**
 * Checks a presented key under the failed-login throttle: an address that presented too many
 * wrong keys is refused (429) before its key is even looked at; a wrong key counts one more.
 */
export async function checkKey(db: Db, bootstrapKey: string | undefined, limits: RateLimits | undefined, res: Response, address: string, key: string): Promise<ApiKeyIdentity | undefined> {
  await limits?.assertLoginAllowed(res, address);
  const identity = await identify(db, bootstrapKey, key);
  if (!identity) await limits?.loginFailed(address);
  return identity;
}

/**
 * API-key authentication, before any body is read. Requests without a valid key are counted per
 * client address (RATE_LIMIT_ANONYMOUS), wrong keys also as failed logins; requests with a valid
 * key per key (RATE_LIMIT_REQUESTS of its role).
 */
export function authenticate(db: Db, bootstrapKey: string | undefined, limits?: RateLimits): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    try {
      const key = presentedKey(req);
      const address = clientAddress(req);
      if (!key) {
        await limits?.anonymous(res, address);
        throw new RpaError('UNAUTHENTICATED', 'an API key is required (Authorization: Bearer <key> or X-API-Key)');
      }
      const identity = await checkKey(db, bootstrapKey, limits, res, address, key);
      if (!identity) {
        await limits?.anonymous(res, address);
        throw new RpaError('UNAUTHENTICATED', 'the API key is unknown or revoked');
      }
      await limits?.request(res, identity);
      req.identity = identity;
      req.keyHash = hashApiKey(key);
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

/**
 * Whether a request to `/health` may see the details (queues, breakers, error texts): it carries
 * a valid key of a role with system:read. No key, or a wrong one (counted as a failed login), sees
 * `{status}` alone.
 */
export function healthDetailsAccess(db: Db, bootstrapKey: string | undefined, limits?: RateLimits): (req: Request, res: Response) => Promise<boolean> {
  return async (req, res) => {
    const key = presentedKey(req);
    if (!key) return false;
    const identity = await checkKey(db, bootstrapKey, limits, res, clientAddress(req), key);
    return identity !== undefined && can(identity.role, 'system:read');
  };
}
