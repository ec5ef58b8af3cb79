import type { Config } from '../config/config.js';
import { coerceError } from '../errors/coerce-error.js';
import type { Logger } from '../logger.js';
import { BrowserBroker } from './browser-broker.js';
import { BrowserCapacityFeeder, queuedBrowserDemand } from './browser-capacity-feeder.js';
import type { BrowserServiceManager } from './browser-service-manager.js';
import { createBrowserServiceManager } from './create-browser-service-manager.js';
import type { QueueRegistry } from '../queues/queue-registry.js';

/** How often the provider-queue depth is fed to the browser service manager. */
const CAPACITY_INTERVAL_MS = 5_000;

export interface WorkerBrowsers {
  /** The loopback broker the sandboxed batch children lease through (BROWSER_BROKER_URL/TOKEN). */
  broker: BrowserBroker;
  manager: BrowserServiceManager;
  /** For GET /health: how many services are ready and how many are handed out. No URLs, no tokens. */
  health(): { mode: Config['browserManager']['mode']; ready: number; grants: number };
  close(): Promise<void>;
}

/**
 * Browsers for a worker that has no BROWSER_POOL_URL and no browser role in its process: the
 * browser service manager of BROWSER_MANAGER_MODE (pods in the cluster, or browser-pool
 * processes on this machine), scaled with the provider queues, and handed to the sandboxed
 * batch children through a loopback broker.
 *
 * Start-up does not wait for the warm pool (a pod can take minutes to schedule): the broker
 * holds `acquire` until the manager's start (orphan clean-up, warm pool) is done, because
 * services made before the clean-up would be taken for an earlier run's and stopped.
 */
export async function startWorkerBrowsers(config: Config, options: { queues: QueueRegistry; logger: Logger }): Promise<WorkerBrowsers> {
  const log = options.logger.child({ component: 'worker-browsers' });
  const manager = createBrowserServiceManager(config, { logger: options.logger, env: browserServiceEnvironment(config) });
  const feeder = new BrowserCapacityFeeder({
    manager,
    measure: () => queuedBrowserDemand(options.queues, config.batchSize, Object.keys(config.providers)),
    intervalMs: CAPACITY_INTERVAL_MS,
    logger: log,
  });
  let closed = false;
  const started = manager.start().then(
    () => {
      if (!closed) feeder.start();
    },
    (err: unknown) => {
      // Not fatal: acquire starts services on demand, and the feeder keeps trying to scale.
      log.error({ err: coerceError(err).toJSON() }, 'browser service manager did not start cleanly');
      if (!closed) feeder.start();
    },
  );
  let broker: BrowserBroker;
  try {
    broker = await new BrowserBroker({ manager, logger: options.logger, ready: started }).start();
  } catch (err) {
    closed = true;
    await manager.close();
    throw err;
  }
  log.info({ mode: config.browserManager.mode, max_pools: config.browserManager.maxPools }, 'batch workers get browsers from the browser service manager');
  return {
    broker,
    manager,
    health: () => ({ mode: config.browserManager.mode, ready: manager.endpoints().length, grants: broker.outstanding() }),
    close: async () => {
      closed = true;
      // Every step runs even when one fails: the services this process started must stop.
      const steps = [() => broker.close(), () => feeder.close(), () => manager.close(), () => started];
      for (const step of steps) await step().catch((err: unknown) => log.warn({ err: coerceError(err).toJSON() }, 'stopping worker browsers: a step failed'));
    },
  };
}

/**
 * Environment of local browser-pool processes: this process's, with the pool settings as this
 * process resolved them (they may have come from SECRETS_DIR or, in tests, not from the
 * environment at all).
 */
function browserServiceEnvironment(config: Config): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    BROWSER_POOL_SIZE: String(config.browserPool.size),
    BROWSER_MAX_CONTEXTS: String(config.browserPool.maxContextsPerBrowser),
    BROWSER_RETIRE_AFTER_CONTEXTS: String(config.browserPool.retireAfterContexts),
    BROWSER_MAX_MEMORY_MB: String(config.browserPool.maxMemoryMb),
    LOG_LEVEL: config.logLevel,
    RPA_DATA_DIR: config.dataDir,
  };
  if (config.chromiumPath) env.CHROMIUM_PATH = config.chromiumPath;
  return env;
}
