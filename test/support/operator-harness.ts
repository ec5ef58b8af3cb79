import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Redis } from 'iovalkey';
import { createApiApp } from '../../src/api/api-app.js';
import { ProviderCalendar } from '../../src/processors/provider-calendar.js';
import { providerHealth } from '../../src/processors/provider-health.js';
import { closedBreaker } from '../../src/processors/login-circuit-breaker.js';
import { createOperatorRouters, type OperatorRouters } from '../../src/api/operator-routers.js';
import { RateLimits } from '../../src/api/rate-limits.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { freezeRuntime } from '../../src/config/runtime.js';
import { createApiKey } from '../../src/api/auth/api-key.js';
import type { KeyRole } from '../../src/db/schema.js';
import { JobSubmission } from '../../src/jobs/job-submission.js';
import { JobEnqueuer } from '../../src/queues/job-enqueuer.js';
import { QueueRegistry } from '../../src/queues/queue-registry.js';
import { createValkey } from '../../src/queues/valkey.js';
import { createTestDatabase, type TestDatabase } from './test-database.js';
import { sharedValkey, testLogger, testRoot, uniquePrefix } from './shared-services.js';

export const OPERATOR_BOOTSTRAP_KEY = 'operator-test-bootstrap-key-0123456789';

export interface OperatorHarness {
  url: string;
  config: Config;
  database: TestDatabase;
  queues: QueueRegistry;
  valkey: Redis;
  operator: OperatorRouters;
  keyFor(role: KeyRole): Promise<string>;
  close(): Promise<void>;
}

/** The real API with the operator routers (Bull Board, /metrics, /events) as system.ts mounts them. */
export async function startOperatorHarness(env: Record<string, string> = {}): Promise<OperatorHarness> {
  const database = await createTestDatabase();
  const server = await sharedValkey();
  const config = loadConfig({
    env: { RPA_DATA_DIR: join(testRoot(), uniquePrefix('op')), DATABASE_URL: database.url, VALKEY_URL: server.url, QUEUE_PREFIX: uniquePrefix('op'), RPA_API_KEY: OPERATOR_BOOTSTRAP_KEY, ...env },
  });
  const valkey = createValkey(server.url, 'producer');
  await once(valkey, 'ready', { signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
  const queues = new QueueRegistry(valkey, config.queuePrefix);
  const runtime = freezeRuntime({ databaseUrl: database.url, valkeyUrl: server.url, portalUrls: {}, browserPool: config.browserPool.url && config.browserPool.token ? { url: config.browserPool.url, token: config.browserPool.token } : undefined });
  const limits = new RateLimits({ redis: valkey, prefix: config.queuePrefix, settings: config.rateLimits, logger: testLogger });
  const calendar = new ProviderCalendar(database.db, config.providers, testLogger);
  const providerNames = Object.keys(config.providers);
  const operator = createOperatorRouters({
    config,
    runtime,
    db: database.db,
    queues,
    valkey,
    calendar,
    providerHealth: () => providerHealth(database.db, providerNames.map(closedBreaker), calendar),
    logger: testLogger,
    limits,
  });
  const app = createApiApp({
    limits,
    trustProxy: config.trustProxy,
    db: database.db,
    bootstrapKey: config.apiKey,
    submission: new JobSubmission(database.db, new JobEnqueuer(database.db, queues, testLogger), config.jobMaxAttempts, testLogger),
    callbackPolicy: { allowHosts: [] },
    health: { db: database.db, valkey, queues },
    logger: testLogger,
    publicRouters: operator.publicRouters,
    routers: operator.routers,
  });
  const http: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const keys = new Map<KeyRole, string>();
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    config,
    database,
    queues,
    valkey,
    operator,
    async keyFor(role) {
      if (!keys.has(role)) keys.set(role, (await createApiKey(database.db, `test-${role}`, role)).key);
      return keys.get(role)!;
    },
    async close() {
      await operator.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await queues.close();
      valkey.disconnect();
      await database.drop();
    },
  };
}
