import { setTimeout as sleep } from 'node:timers/promises';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { PortalState } from './portal-state.js';

/**
 * Counts every portal request, adds `latency_ms`, and answers `error_rate` of them with a 503
 * (rendered by `unavailable`). Mounted after the control router, so `/__sandbox/*` is never
 * counted or faulted.
 */
export function faultsMiddleware(state: PortalState, unavailable: (req: Request, res: Response) => void): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    state.stats.requests++;
    const latency = state.config.latency_ms;
    if (latency > 0) await sleep(latency, undefined, { ref: false });
    if (state.config.error_rate > 0 && Math.random() < state.config.error_rate) {
      state.stats.errors_injected++;
      res.status(503);
      unavailable(req, res);
      return;
    }
    next();
  };
}
