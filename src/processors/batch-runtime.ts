import { hostname } from 'node:os';
import type { Redis } from 'iovalkey';
import { BrokeredBrowserSource } from '../browser/brokered-browser-source.js';
import { BrowserPoolClient } from '../browser/browser-pool-client.js';
import type { BrowserSource } from '../browser/browser-source.js';
import type { Config } from '../config/config.js';
import type { Runtime } from '../config/runtime.js';
import { LiveSettings } from '../config/live-settings.js';
import { createDb, type Db } from '../db/database.js';
import { totpStepLedger } from '../db/totp-step-store.js';
import { RpaError } from '../errors/failures.js';
import type { Logger } from '../logger.js';
import { automationFor } from '../providers/registry.js';
import { CallbackEnqueuer } from '../callbacks/callback-enqueuer.js';
import { JobEnqueuer } from '../queues/job-enqueuer.js';
import { QueueRegistry } from '../queues/queue-registry.js';
import { createValkey } from '../queues/valkey.js';
import { TotpManager } from '../totp/totp-manager.js';
import { totpSettingsFromConfig } from '../totp/totp-settings.js';
import { BatchRunner } from './batch-runner.js';
import { LoginCircuitBreaker } from './login-circuit-breaker.js';
import { ProviderPauses } from './provider-pauses.js';

export interface BatchRuntime {
  runner: BatchRunner;
  db: Db;
  close(): Promise<void>;
}

/**
 * Everything a batch run needs, built from configuration: what a sandboxed processor child
 * makes once and keeps for the batches it runs. Needs DATABASE_URL, VALKEY_URL and a way to
 * browsers: BROWSER_POOL_URL and BROWSER_POOL_TOKEN (one pool), or BROWSER_BROKER_URL and
 * BROWSER_BROKER_TOKEN (the worker's browser services). The worker role passes them to its children.
 */
export function createBatchRuntime(config: Config, runtime: Runtime, logger: Logger): BatchRuntime {
  const need = <T>(value: T | undefined, name: string): T => {
    if (!value) throw new RpaError('CONFIG_INVALID', `${name}: required by the batch processor`, { field: name });
    return value;
  };
  const db = createDb(need(runtime.databaseUrl, 'DATABASE_URL'), { max: 4 });
  const live = new LiveSettings(config, logger).watch();
  const valkey: Redis = createValkey(need(runtime.valkeyUrl, 'VALKEY_URL'), 'worker');
  const queues = new QueueRegistry(valkey, config.queuePrefix);
  const enqueuer = new JobEnqueuer(db, queues, logger);
  const callbacks = new CallbackEnqueuer(db, queues, logger);
  const pool = browserSource(config, runtime, logger, need);
  const totp = new TotpManager({ redis: valkey, logger, ledger: totpStepLedger(db), ...totpSettingsFromConfig(config) });
  const breaker = new LoginCircuitBreaker(valkey, config.queuePrefix, config.loginFailureThreshold, config.loginCooldownMs, logger);
  const runner = new BatchRunner({
    db,
    providers: config.providers,
    portalUrls: runtime.portalUrls,
    automationFor,
    pool,
    totp,
    breaker,
    pauses: new ProviderPauses(db, config.loginFailureThreshold, (p) => live.credentials(p), logger),
    credentials: (p) => live.credentials(p),
    evidenceDir: config.evidenceDir,
    enqueue: (items) => enqueuer.enqueue(items),
    jobsEnded: (ids) => callbacks.enqueueForJobs(ids),
    logger,
    workerName: `${hostname()}:${process.pid}`,
    retryBaseMs: config.jobRetryBaseMs,
  });
  return {
    runner,
    db,
    close: async () => {
      live.close();
      await Promise.allSettled([pool.close(), totp.close(), queues.close()]);
      valkey.disconnect();
      await db.destroy();
    },
  };
}

/** One pool when BROWSER_POOL_URL is set; else the services the worker's broker hands out. */
function browserSource(config: Config, runtime: Runtime, logger: Logger, need: <T>(value: T | undefined, name: string) => T): BrowserSource {
  if (runtime.browserPool || !runtime.browserBroker) {
    const pool = need(runtime.browserPool, 'BROWSER_POOL_URL');
    return new BrowserPoolClient({ url: pool.url, token: pool.token, logger });
  }
  return new BrokeredBrowserSource({
    brokerUrl: runtime.browserBroker.url,
    brokerToken: runtime.browserBroker.token,
    // The broker may have to start a service (a pod: scheduling, image pull) before it answers.
    acquireTimeoutMs: config.browserManager.readyTimeoutMs + 15_000,
    logger,
  });
}
