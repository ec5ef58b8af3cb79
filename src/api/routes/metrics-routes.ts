import { Router } from 'express';
import type { Metrics } from '../metrics/metrics-registry.js';
import { requirePermission } from '../auth/authenticate.js';
import { noQuery } from '../request-params.js';

/** `GET /metrics`: Prometheus text format, for keys with system:read (viewer, operator, admin). */
export function metricsRoutes(metrics: Metrics): Router {
  const router = Router();
  router.get('/metrics', requirePermission('system:read'), noQuery, async (_req, res) => {
    const body = await metrics.scrape();
    res.setHeader('Cache-Control', 'no-store');
    res.type(metrics.registry.contentType).send(body);
  });
  return router;
}
