import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Redis } from 'iovalkey';
import { createApiApp } from '../../src/api/api-app.js';
import { JobSubmission } from '../../src/jobs/job-submission.js';
import { JobEnqueuer } from '../../src/queues/job-enqueuer.js';
import { QueueRegistry } from '../../src/queues/queue-registry.js';
import { createValkey } from '../../src/queues/valkey.js';
import { createApiKey } from '../../src/api/auth/api-key.js';
import type { KeyRole } from '../../src/db/schema.js';
import { RateLimits, type RateLimitSettings } from '../../src/api/rate-limits.js';
import { loadConfig } from '../../src/config/config.js';
import type { TrustProxy } from '../../src/config/parsers.js';
import type { Logger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from './test-database.js';

/** RATE_LIMIT_* as shipped. */
export const DEFAULT_RATE_LIMITS: RateLimitSettings = loadConfig({ env: {} }).rateLimits;
import { sharedValkey, testLogger, uniquePrefix } from './shared-services.js';

export const BOOTSTRAP_KEY = 'test-bootstrap-admin-key-0123456789';

export interface ApiHarness {
  url: string;
  database: TestDatabase;
  queues: QueueRegistry;
  enqueuer: JobEnqueuer;
  valkey: Redis;
  prefix: string;
  keyFor(role: KeyRole): Promise<string>;
  call(method: string, path: string, options?: { key?: string | null; body?: unknown; rawBody?: string; headers?: Record<string, string> }): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

/** The real API on a free port, over a fresh database and a fresh queue prefix. */
export interface ApiHarnessOptions {
  valkeyUrl?: string;
  callbackAllowHosts?: string[];
  /** Rate limits other than the settings' defaults. */
  rateLimits?: Partial<RateLimitSettings>;
  /** Another name for the queue prefix: replicas of one installation share it (and their rate limits). */
  prefix?: string;
  trustProxy?: TrustProxy;
  /** The database of another harness (a second replica); it is not dropped by this one. */
  database?: TestDatabase;
  logger?: Logger;
}

/** The real API on a free port, over a fresh database and a fresh queue prefix, with the default rate limits. */
export async function startApiHarness(options: ApiHarnessOptions = {}): Promise<ApiHarness> {
  const ownDatabase = options.database === undefined;
  const database = options.database ?? (await createTestDatabase());
  const valkeyUrl = options.valkeyUrl ?? (await sharedValkey()).url;
  const valkey = createValkey(valkeyUrl, 'producer');
  // Counted from the first request on: a producer client fails fast (and the limits fail open) until it is connected.
  await once(valkey, 'ready', { signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
  const prefix = options.prefix ?? uniquePrefix('api');
  const logger = options.logger ?? testLogger;
  const queues = new QueueRegistry(valkey, prefix);
  const enqueuer = new JobEnqueuer(database.db, queues, logger);
  const submission = new JobSubmission(database.db, enqueuer, 3, logger);
  const limits = new RateLimits({ redis: valkey, prefix, settings: { ...DEFAULT_RATE_LIMITS, ...options.rateLimits }, logger });
  const app = createApiApp({
    db: database.db,
    bootstrapKey: BOOTSTRAP_KEY,
    submission,
    callbackPolicy: { allowHosts: options.callbackAllowHosts ?? [] },
    health: { db: database.db, valkey, queues, readyNeeds: ['postgres'] },
    logger,
    limits,
    trustProxy: options.trustProxy,
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const keys = new Map<KeyRole, string>();
  return {
    url,
    database,
    queues,
    enqueuer,
    valkey,
    prefix,
    async keyFor(role) {
      if (!keys.has(role)) keys.set(role, (await createApiKey(database.db, `test-${role}`, role)).key);
      return keys.get(role)!;
    },
    async call(method, path, opts = {}) {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      const key = opts.key === undefined ? BOOTSTRAP_KEY : opts.key;
      if (key !== null) headers.authorization = `Bearer ${key}`;
      let body: string | undefined = opts.rawBody;
      if (opts.body !== undefined) {
        body = JSON.stringify(opts.body);
        headers['content-type'] = 'application/json';
      }
      const res = await fetch(url + path, { method, headers, body });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON
      }
      return { status: res.status, body: parsed };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await queues.close();
      valkey.disconnect();
      if (ownDatabase) await database.drop();
    },
  };
}
