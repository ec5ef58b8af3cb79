import { createBullBoard } from '@bull-board/api';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import express, { Router, type Request, type RequestHandler, type Response } from 'express';
import { can } from './auth/roles.js';
import type { Db } from '../db/database.js';
import type { ApiKeyIdentity } from '../db/api-key-store.js';
import { identify, presentedKey } from './auth/authenticate.js';
import { BoardViews } from './board-views.js';
import { sendEvidence } from './routes/evidence-routes.js';
import type { EvidenceStore } from '../evidence/evidence-store.js';

export const BULL_BOARD_PATH = '/admin/queues';
/** The cookie that keeps the key a browser entered once (HttpOnly, SameSite=Strict, only sent to the board). */
export const BULL_BOARD_COOKIE = 'rpa_board_key';

export interface BullBoardDeps {
  db: Db;
  bootstrapKey?: string;
  /** Every queue to show (QueueRegistry.all()). */
  queues: Queue[];
  /** Where the evidence the board links to is (the API's store). */
  evidenceStore?: EvidenceStore;
}

/**
 * Bull Board at /admin/queues behind the API's keys and roles. A browser logs in once through
 * the form at /admin/queues/login; the key is kept in an HttpOnly, SameSite=Strict cookie scoped
 * to /admin/queues and checked again on every request (a revoked key is out at once). Scripts may
 * send `Authorization: Bearer <key>` instead. Roles with queues:write (operator, admin) get the
 * full board; roles with only queues:read (viewer) a read-only board (no retry, clean, promote,
 * delete: Bull Board refuses those server-side); everyone else a 401/403 page with no job data.
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

  const router = Router();
  const area = Router();
  router.use(BULL_BOARD_PATH, area);

  area.get('/login', (_req, res) => sendLogin(res, 200));
  area.post('/login', express.urlencoded({ extended: false, limit: '4kb' }), async (req, res, next) => {
    try {
      const key = typeof req.body?.key === 'string' ? req.body.key.trim() : '';
      const identity = key ? await identify(deps.db, deps.bootstrapKey, key) : undefined;
      if (!identity) return sendLogin(res, 401, 'That key is unknown or revoked.');
      if (!can(identity.role, 'queues:read')) return sendLogin(res, 403, `A ${identity.role} key may not see the queues.`);
      res.cookie(BULL_BOARD_COOKIE, key, { httpOnly: true, sameSite: 'strict', secure: req.secure, path: BULL_BOARD_PATH });
      res.redirect(303, BULL_BOARD_PATH);
    } catch (error) {
      next(error);
    }
  });
  area.post('/logout', (req, res) => {
    res.clearCookie(BULL_BOARD_COOKIE, { httpOnly: true, sameSite: 'strict', secure: req.secure, path: BULL_BOARD_PATH });
    res.redirect(303, `${BULL_BOARD_PATH}/login`);
  });

  area.use(async (req, res, next) => {
    try {
      const key = presentedKey(req) ?? cookieValue(req, BULL_BOARD_COOKIE);
      const identity: ApiKeyIdentity | undefined = key ? await identify(deps.db, deps.bootstrapKey, key) : undefined;
      if (!identity) return refuse(req, res, 401, 'an API key is required: log in at /admin/queues/login');
      if (!can(identity.role, 'queues:read')) return refuse(req, res, 403, `role ${identity.role} may not see the queues`);
      res.setHeader('Cache-Control', 'no-store');
      const evidence = /^\/evidence\/([1-9]\d{0,17})\/([^/]+)$/.exec(req.path);
      if (evidence && req.method === 'GET') {
        // The evidence links of the job views: served here, under the board's own login.
        if (!can(identity.role, 'jobs:read')) return refuse(req, res, 403, `role ${identity.role} may not read jobs`);
        return await sendEvidence({ db: deps.db, evidenceStore: deps.evidenceStore }, evidence[1]!, decodeURIComponent(evidence[2]!), res);
      }
      const handler = can(identity.role, 'queues:write') ? full : readOnly;
      handler(req, res, next);
    } catch (error) {
      next(error);
    }
  });
  return router;
}

function cookieValue(req: Request, name: string): string | undefined {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

function refuse(req: Request, res: Response, status: 401 | 403, message: string): void {
  res.setHeader('Cache-Control', 'no-store');
  if (req.accepts(['html', 'json']) === 'html' && req.method === 'GET') return sendLogin(res, status, status === 403 ? `${message}.` : undefined);
  res.status(status).json({ error: { code: status === 401 ? 'UNAUTHENTICATED' : 'FORBIDDEN', message } });
}

function sendLogin(res: Response, status: number, message?: string): void {
  const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  res
    .status(status)
    .type('html')
    .setHeader('Cache-Control', 'no-store')
    .send(
      `<!doctype html><html><head><meta charset="utf-8"><title>RPA queues: log in</title></head><body>` +
        `<h1>RPA queues</h1>${message ? `<p role="alert">${escape(message)}</p>` : ''}` +
        `<form method="post" action="${BULL_BOARD_PATH}/login"><label>API key (operator, admin or viewer) ` +
        `<input type="password" name="key" autocomplete="current-password" required></label> <button type="submit">Log in</button></form>` +
        `</body></html>`,
    );
}
