import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { readCookie } from './cookies.js';
import type { PortalState } from './portal-state.js';
import type { Session } from './session-store.js';

/** The live session a guarded route runs under. */
export function currentSession(res: Response): Session {
  return res.locals.session as Session;
}

/**
 * Lets a request through only with a live session (restarting its idle clock); otherwise
 * `onMissing` answers (each portal's expired redirect).
 */
export function sessionGuard(state: PortalState, cookieName: string, onMissing: (req: Request, res: Response) => void): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const session = state.sessions.touch(readCookie(req, cookieName));
    if (!session) {
      onMissing(req, res);
      return;
    }
    res.locals.session = session;
    next();
  };
}

/** The live session of a request, if any, without answering for it. */
export function optionalSession(state: PortalState, req: Request, cookieName: string): Session | undefined {
  return state.sessions.touch(readCookie(req, cookieName));
}
