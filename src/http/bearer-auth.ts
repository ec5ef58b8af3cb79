import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { RpaError } from '../errors/failures.js';
import { sendError } from './json-errors.js';

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** The bearer token of an `Authorization` header, if any. */
export function bearerToken(header: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
}

/** Compares two secrets in constant time (through their digests, so lengths may differ). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** Lets through requests that carry `token` as their bearer token; 401 otherwise. */
export function bearerAuth(token: string): RequestHandler {
  return (req, res, next) => {
    const presented = bearerToken(req.get('authorization'));
    if (presented !== undefined && sameSecret(presented, token)) return next();
    res.set('WWW-Authenticate', 'Bearer');
    sendError(res, new RpaError('UNAUTHENTICATED', 'missing or wrong bearer token'));
  };
}
