import type { Router } from 'express';
import type { ValkeyClient } from '../queues/valkey.js';
import { LoginCircuitBreaker } from '../processors/login-circuit-breaker.js';
import { PoolClient } from '../browser/client/pool-client.js';
import type { Config } from '../config/config.js';
import type { Runtime } from '../config/runtime.js';
import type { Db } from '../db/database.js';
import type { Logger } from '../logger.js';
import { createMetrics } from './metrics/metrics-registry.js';
import type { QueueRegistry } from '../queues/queue-registry.js';
import type { BatchSizeView } from '../queues/batch-sizer.js';
import { TotpManager } from '../totp/totp-manager.js';
import { totpSettingsFromConfig } from '../totp/totp-settings.js';
import { bullBoardRouter } from './bull-board-router.js';
import { BoardSessions } from './board-sessions.js';
import type { RateLimits } from './rate-limits.js';
import { callbackPolicyFromConfig } from '../callbacks/callback-url-guard.js';
import { eventsRoutes } from './routes/events-routes.js';
import { metricsRoutes } from './routes/metrics-routes.js';
import { providersRoutes } from './routes/providers-routes.js';
import { schedulesRoutes } from './routes/schedules-routes.js';
import type { ProviderCalendar } from '../processors/provider-calendar.js';
import type { ProviderHealth } from '../processors/provider-health.js';
import { requestCanary } from '../queues/canary-requests.js';
import type { EvidenceStore } from '../evidence/evidence-store.js';
import { StatusEventFeed } from './status-event-feed.js';

export interface OperatorRouters {
  /** Mounted before API-key auth: Bull Board does its own login. */
  publicRouters: Router[];
  /** Mounted after API-key auth: /metrics, /events, /schedules. */
  routers: Router[];
  close(): Promise<void>;
}

/** What the operations team uses from the API process: Bull Board, /metrics, /events and /schedules. */
export function createOperatorRouters(deps: {
  config: Config;
  runtime: Runtime;
  db: Db;
  queues: QueueRegistry;
  valkey: ValkeyClient;
  calendar: ProviderCalendar;
  evidenceStore?: EvidenceStore;
  /** Every provider's state, as /health shows it. */
  providerHealth: () => Promise<Record<string, ProviderHealth>>;
  logger: Logger;
  limits?: RateLimits;
  batchSizes?: () => Promise<Record<string, BatchSizeView>>;
}): OperatorRouters {
  const { config, db, queues, logger } = deps;
  const totp = new TotpManager({ redis: deps.valkey, ...totpSettingsFromConfig(config), logger });
  const pool = deps.runtime.browserPool ? new PoolClient({ ...deps.runtime.browserPool, logger }) : undefined;
  const feed = new StatusEventFeed(db, logger.child({ component: 'status-events' }));
  const events = eventsRoutes(feed, { db, bootstrapKey: config.apiKey, logger: logger.child({ component: 'events' }) });
  const sessions = new BoardSessions(deps.valkey, config.queuePrefix, config.boardSessionTtlMs);
  // Read-only here: the breaker's state() reads what the batch workers record in Valkey.
  const breakers = new LoginCircuitBreaker(deps.valkey, config.queuePrefix, config.loginFailureThreshold, config.loginCooldownMs, logger);
  const providers = Object.values(config.providers).map((p) => ({ name: p.descriptor.name, needsTotp: p.descriptor.needsTotp, maxSessions: p.maxSessions }));
  const metrics = createMetrics({ db, queues: () => queues.all(), totp, pool, breakers, batchSizes: deps.batchSizes, providers, calendar: deps.calendar, logger: logger.child({ component: 'metrics' }) });
  const providerOps = providersRoutes({
    db,
    providers: config.providers,
    calendar: deps.calendar,
    health: deps.providerHealth,
    canary: (provider) => requestCanary(queues, provider),
  });
  return {
    publicRouters: [bullBoardRouter({ db, bootstrapKey: config.apiKey, queues: queues.all(), sessions, limits: deps.limits, evidenceStore: deps.evidenceStore })],
    routers: [
      metricsRoutes(metrics),
      providerOps,
      events.router,
      schedulesRoutes({ db, maintenance: queues.maintenance(), callbackPolicy: callbackPolicyFromConfig(config), minIntervalMs: config.scheduleMinIntervalMs }),
    ],
    close: async () => {
      events.closeAll();
      await Promise.allSettled([feed.close()]);
      await Promise.allSettled([totp.close(), pool?.close()]);
    },
  };
}
