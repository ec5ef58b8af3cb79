import express, { type Router } from 'express';
import { parseConfigPatch } from './portal-config.js';
import type { PortalState } from './portal-state.js';

/**
 * The control API under `/__sandbox` (JSON, no session, never subject to faults): stats,
 * reset, seeding circuits, the fault/session config, and the lost-answer knob `/faults`.
 */
export function createControlRouter(state: PortalState): Router {
  const router = express.Router();
  router.use(express.json({ type: () => true, limit: '1mb' }));

  router.get('/stats', (_req, res) => {
    res.json(state.statsDocument());
  });

  router.post('/reset', (_req, res) => {
    state.reset();
    res.json({ ok: true });
  });

  router.post('/circuits', (req, res) => {
    const body: unknown = req.body;
    if (typeof body !== 'object' || body === null) {
      res.status(400).json({ error: 'body must be a circuit object or an array of them' });
      return;
    }
    const result = state.circuits.seed(Array.isArray(body) ? body : [body]);
    if (!result.ok) {
      res.status(400).json({ error: result.error });
      return;
    }
    res.json({ ok: true, seeded: result.count });
  });

  router.get('/config', (_req, res) => {
    res.json(state.config);
  });

  router.post('/config', (req, res) => {
    const parsed = parseConfigPatch(req.body);
    if (!parsed.ok) {
      res.status(400).json({ error: parsed.error });
      return;
    }
    state.config = { ...state.config, ...parsed.patch };
    res.json(state.config);
  });

  // Not part of SPEC.md: a test knob that loses the answers of cancellations (answer-faults.ts).
  router.get('/faults', (_req, res) => {
    res.json(state.answerFaults.document());
  });

  router.post('/faults', (req, res) => {
    const error = state.answerFaults.configure(req.body);
    if (error) {
      res.status(400).json({ error });
      return;
    }
    res.json(state.answerFaults.document());
  });

  router.use((_req, res) => {
    res.status(404).json({ error: 'unknown control endpoint' });
  });

  router.use((error: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    const status = (error as { status?: number }).status;
    res.status(status && status >= 400 && status < 500 ? status : 400).json({ error: 'body must be valid JSON' });
  });

  return router;
}
