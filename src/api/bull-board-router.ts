import { timingSafeEqual } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import express, { Router, type CookieOptions, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { can } from './auth/roles.js';
import type { Db } from '../db/database.js';
import type { ApiKeyIdentity } from '../db/api-key-store.js';
import { RpaError } from '../errors/failures.js';
import { sendError } from '../http/json-errors.js';
import { hashApiKey } from './auth/api-key.js';
import { checkKey, clientAddress, identifyByHash, presentedKey } from './auth/authenticate.js';
import { isToken, randomToken, type BoardSessions } from './board-sessions.js';
import type { RateLimits } from './rate-limits.js';
import { BoardViews } from './board-views.js';
import { sendEvidence } from './routes/evidence-routes.js';
import type { EvidenceStore } from '../evidence/evidence-store.js';

export const BULL_BOARD_PATH = '/admin/queues';
/** The session cookie: an opaque random id (HttpOnly, SameSite=Strict, only sent to the board). */
export const BULL_BOARD_SESSION_COOKIE = 'rpa_board_session';
/**
 * The session's CSRF token, readable by the board's page: Bull Board's UI calls its API with
 * axios, which sends this cookie back as the `X-XSRF-TOKEN` header on every same-origin request.
 */
export const BULL_BOARD_CSRF_COOKIE = 'XSRF-TOKEN';
export const BULL_BOARD_CSRF_HEADER = 'X-XSRF-TOKEN';
/** The login form's own CSRF token (double submit: this cookie and the form's hidden field). */
export const BULL_BOARD_LOGIN_COOKIE = 'rpa_board_login';

export interface BullBoardDeps {
  db: Db;
  bootstrapKey?: string;
  /** Every queue to show (QueueRegistry.all()). */
  queues: Queue[];
  sessions: BoardSessions;
  limits?: RateLimits;
  /** Where the evidence the board links to is (the API's store). */
  evidenceStore?: EvidenceStore;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Bull Board at /admin/queues behind the API's keys and roles. A browser logs in once through
 * the form at /admin/queues/login (itself guarded by a CSRF token and the failed-login throttle)
 * and gets a session: an opaque id in an HttpOnly, SameSite=Strict cookie (Secure over TLS),
 * kept in Valkey with an expiry. The key is checked again on every request through its hash, so
 * revoking it ends its sessions at once. Every mutating request of a session must carry the
 * session's CSRF token (X-XSRF-TOKEN: Bull Board's axios sends it by itself). Scripts may send
 * `Authorization: Bearer <key>` instead (no cookie, so no CSRF token). Roles with queues:write
 * (operator, admin) get the full board; roles with only queues:read (viewer) a read-only board
 * whose every mutating request (PUT, POST, PATCH, DELETE) is refused here with 403 before Bull
 * Board sees it; everyone else a 401/403 page with no job data.
 */
export function bullBoardRouter(deps: BullBoardDeps): Router {
  const views = new BoardViews(deps.db, BULL_BOARD_PATH);
  const board = (readOnlyMode: boolean): RequestHandler => {
    const adapter = new ExpressAdapter();
    adapter.setBasePath(BULL_BOARD_PATH);
    createBullBoard({
      queues: deps.queues.map((q) => views.adapter(q, { readOnlyMode, allowRetries: !readOnlyMode })),
      // @bull-board/express pins its own copy of @bull-board/api (a patch version apart): same shape.
      serverAdapter: adapter as unknown as Parameters<typeof createBullBoard>[0]['serverAdapter'],
      options: { uiConfig: { boardTitle: readOnlyMode ? 'RPA queues (read-only)' : 'RPA queues' } },
    });
    return adapter.getRouter() as RequestHandler;
  };
  const full = board(false);
  const readOnly = board(true);
  const ttlMs = deps.sessions.ttlMs;
  const cookie = (req: Request, httpOnly: boolean, path = BULL_BOARD_PATH): CookieOptions => ({ httpOnly, sameSite: 'strict', secure: req.secure, path });

  const router = Router();
  const area = Router();
  router.use(BULL_BOARD_PATH, area);

  const loginPage = (req: Request, res: Response, status: number, message?: string) => {
    const token = randomToken();
    res.cookie(BULL_BOARD_LOGIN_COOKIE, token, { ...cookie(req, true, `${BULL_BOARD_PATH}/login`), maxAge: 3_600_000 });
    sendLogin(res, status, token, message);
  };

  area.get('/login', (req, res) => loginPage(req, res, 200));
  area.post('/login', express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 10 }), async (req, res, next) => {
    try {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const formToken = typeof body.csrf === 'string' ? body.csrf : undefined;
      const cookieToken = cookieValue(req, BULL_BOARD_LOGIN_COOKIE);
      if (!isToken(formToken) || !isToken(cookieToken) || !sameToken(formToken, cookieToken)) {
        return loginPage(req, res, 403, 'The login form had expired or came from elsewhere: enter the key again.');
      }
      const key = typeof body.key === 'string' ? body.key.trim() : '';
      const address = clientAddress(req);
      let identity: ApiKeyIdentity | undefined;
      try {
        identity = key ? await checkKey(deps.db, deps.bootstrapKey, deps.limits, res, address, key) : undefined;
      } catch (error) {
        if (error instanceof RpaError && error.code === 'RATE_LIMITED') return loginPage(req, res, 429, `${error.message}.`);
        throw error;
      }
      if (!identity) return loginPage(req, res, 401, 'That key is unknown or revoked.');
      if (!can(identity.role, 'queues:read')) return loginPage(req, res, 403, `A ${identity.role} key may not see the queues.`);
      const { id, session } = await deps.sessions.create(identity, hashApiKey(key));
      res.clearCookie(BULL_BOARD_LOGIN_COOKIE, cookie(req, true, `${BULL_BOARD_PATH}/login`));
      res.cookie(BULL_BOARD_SESSION_COOKIE, id, { ...cookie(req, true), maxAge: ttlMs });
      res.cookie(BULL_BOARD_CSRF_COOKIE, session.csrf, { ...cookie(req, false), maxAge: ttlMs });
      res.redirect(303, BULL_BOARD_PATH);
    } catch (error) {
      next(error);
    }
  });
  area.post('/logout', express.urlencoded({ extended: false, limit: '1kb', parameterLimit: 5 }), async (req, res, next) => {
    try {
      const id = cookieValue(req, BULL_BOARD_SESSION_COOKIE);
      const session = await deps.sessions.get(id);
      if (session) {
        const sent = req.get(BULL_BOARD_CSRF_HEADER) ?? (typeof req.body?.csrf === 'string' ? (req.body.csrf as string) : undefined);
        if (!isToken(sent) || !sameToken(sent, session.csrf)) return refuse(req, res, 403, 'the CSRF token (X-XSRF-TOKEN) is missing or wrong');
        await deps.sessions.delete(id);
      }
      res.clearCookie(BULL_BOARD_SESSION_COOKIE, cookie(req, true));
      res.clearCookie(BULL_BOARD_CSRF_COOKIE, cookie(req, false));
      res.redirect(303, `${BULL_BOARD_PATH}/login`);
    } catch (error) {
      next(error);
    }
  });

  area.use(async (req: Request, res: Response, next: NextFunction) => {
    try {
      res.setHeader('Cache-Control', 'no-store');
      const key = presentedKey(req);
      let identity: ApiKeyIdentity | undefined;
      if (key !== undefined) {
        // A script: the key in a header is no ambient credential, so no CSRF token is asked for.
        identity = await checkKey(deps.db, deps.bootstrapKey, deps.limits, res, clientAddress(req), key);
        if (!identity) {
          await deps.limits?.anonymous(res, clientAddress(req));
          return refuse(req, res, 401, 'the API key is unknown or revoked');
        }
      } else {
        const id = cookieValue(req, BULL_BOARD_SESSION_COOKIE);
        const session = await deps.sessions.get(id);
        if (!session) {
          await deps.limits?.anonymous(res, clientAddress(req));
          return refuse(req, res, 401, 'an API key is required: log in at /admin/queues/login');
        }
        identity = await identifyByHash(deps.db, deps.bootstrapKey, session.keyHash);
        if (!identity) {
          // The key was revoked (or RPA_API_KEY changed) since the login: the session ends with it.
          await deps.sessions.delete(id);
          return refuse(req, res, 401, 'the key of this session was revoked: log in again');
        }
        if (!SAFE_METHODS.has(req.method)) {
          const sent = req.get(BULL_BOARD_CSRF_HEADER);
          if (!isToken(sent) || !sameToken(sent, session.csrf)) return refuse(req, res, 403, `the CSRF token (${BULL_BOARD_CSRF_HEADER}) is missing or wrong`);
        }
      }
      if (!can(identity.role, 'queues:read')) return refuse(req, res, 403, `role ${identity.role} may not see the queues`);
      const writer = can(identity.role, 'queues:write');
      if (!writer && !SAFE_METHODS.has(req.method)) return refuse(req, res, 403, `role ${identity.role} has a read-only board: ${req.method} is refused`);
      await deps.limits?.request(res, identity);
      const evidence = /^\/evidence\/([1-9]\d{0,17})\/([^/]+)$/.exec(req.path);
      if (evidence && req.method === 'GET') {
        // The evidence links of the job views: served here, under the board's own login.
        if (!can(identity.role, 'jobs:read-all')) return refuse(req, res, 403, `role ${identity.role} may not read every job`);
        return await sendEvidence({ db: deps.db, evidenceStore: deps.evidenceStore }, evidence[1]!, decodeURIComponent(evidence[2]!), res);
      }
      (writer ? full : readOnly)(req, res, next);
    } catch (error) {
      next(error);
    }
  });
  return router;
}

function sameToken(a: string, b: string): boolean {
  const ba = Buffer.from(a);
  const bb = Buffer.from(b);
  return ba.length === bb.length && timingSafeEqual(ba, bb);
}

/** A cookie's raw value (no decoding: our cookies are base64url), undefined when absent. Malformed headers are no cookie. */
export function cookieValue(req: Request, name: string): string | undefined {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return undefined;
}

function refuse(req: Request, res: Response, status: 401 | 403, message: string): void {
  res.setHeader('Cache-Control', 'no-store');
  if (req.accepts(['html', 'json']) === 'html' && req.method === 'GET') {
    const token = randomToken();
    res.cookie(BULL_BOARD_LOGIN_COOKIE, token, { httpOnly: true, sameSite: 'strict', secure: req.secure, path: `${BULL_BOARD_PATH}/login`, maxAge: 3_600_000 });
    return sendLogin(res, status, token, status === 403 ? `${message}.` : undefined);
  }
  sendError(res, new RpaError(status === 401 ? 'UNAUTHENTICATED' : 'FORBIDDEN', message));
}

function sendLogin(res: Response, status: number, csrf: string, message?: string): void {
  const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  res
    .status(status)
    .type('html')
    .setHeader('Cache-Control', 'no-store')
    .send(
      `<!doctype html><html><head><meta charset="utf-8"><title>RPA queues: log in</title></head><body>` +
        `<h1>RPA queues</h1>${message ? `<p role="alert">${escape(message)}</p>` : ''}` +
        `<form method="post" action="${BULL_BOARD_PATH}/login"><input type="hidden" name="csrf" value="${escape(csrf)}"><label>API key (operator, admin or viewer) ` +
        `<input type="password" name="key" autocomplete="current-password" required></label> <button type="submit">Log in</button></form>` +
        `</body></html>`,
    );
}
