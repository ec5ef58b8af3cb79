import express, { type Express, type Router } from 'express';
import type { Db } from '../db/database.js';
import type { Logger } from '../logger.js';
import type { BatchSizeView } from '../queues/batch-sizer.js';
import { authenticate, healthDetailsAccess } from './auth/authenticate.js';
import type { TrustProxy } from '../config/parsers.js';
import type { RateLimits } from './rate-limits.js';
import { jsonErrorHandler, jsonNotFound } from '../http/json-errors.js';
import { apiKeysRoutes } from './routes/api-keys-routes.js';
import { batchesRoutes } from './routes/batches-routes.js';
import { evidenceRoutes, type EvidenceRoutesDeps } from './routes/evidence-routes.js';
import { healthRoutes, type HealthDeps } from './routes/health-routes.js';
import { jobsRoutes, type JobsRoutesDeps } from './routes/jobs-routes.js';

export const BODY_LIMIT = '8mb';

export interface ApiAppDeps extends JobsRoutesDeps, EvidenceRoutesDeps {
  db: Db;
  bootstrapKey?: string;
  health: HealthDeps;
  logger: Logger;
  /** RATE_LIMIT_*: counted in Valkey, shared by every replica. Without it nothing is limited. */
  limits?: RateLimits;
  /** TRUST_PROXY: Express's `trust proxy` (the client address and TLS as the proxy in front saw them). */
  trustProxy?: TrustProxy;
  /** Routers mounted before auth that handle their own (e.g. Bull Board's cookie login). */
  publicRouters?: Router[];
  /** Routers mounted after API-key auth (metrics, events, schedules …). */
  routers?: Router[];
  /** The batch size each provider's batches are cut to now, shown by `GET /batches`. */
  batchSizes?: () => Promise<Record<string, BatchSizeView>>;
}

/** The ingest API. Express 5 forwards rejected promises from handlers to the error handler. */
export function createApiApp(deps: ApiAppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.trustProxy ?? false);
  // Probes first: no key, no rate limit. /health shows details only to a key with system:read.
  app.use(healthRoutes({ logger: deps.logger, detailsAccess: healthDetailsAccess(deps.db, deps.bootstrapKey, deps.limits), ...deps.health }));
  for (const router of deps.publicRouters ?? []) app.use(router);
  // Keys are checked (and counted) before any body is read.
  app.use(authenticate(deps.db, deps.bootstrapKey, deps.limits));
  app.use(express.json({ limit: BODY_LIMIT, type: () => true, strict: false }));
  app.use(jobsRoutes(deps));
  app.use(evidenceRoutes(deps));
  app.use(batchesRoutes(deps));
  app.use(apiKeysRoutes(deps));
  for (const router of deps.routers ?? []) app.use(router);
  app.use(jsonNotFound);
  app.use(jsonErrorHandler(deps.logger));
  return app;
}
