import { loadConfig, type Config } from '../config/config.js';
import { createDb, type Db } from '../db/database.js';
import { RpaError } from '../errors/failures.js';
import { silentLogger } from '../logger.js';
import { JobEnqueuer } from '../queues/job-enqueuer.js';
import { QueueRegistry } from '../queues/queue-registry.js';
import { createValkey, type ValkeyClient } from '../queues/valkey.js';
import type { ValkeyEndpoint } from '../config/valkey-endpoint.js';
import { advertisedServices } from '../infra/services-file.js';

/** What an `rpa` command talks to: the running system's Postgres and, when asked, its Valkey. */
export interface CliContext {
  config: Config;
  db: Db;
  /** Present when opened with `{ valkey: true }`. */
  queues?: QueueRegistry;
  enqueuer?: JobEnqueuer;
  valkey?: ValkeyClient;
  close(): Promise<void>;
}

/**
 * The services the server would use: DATABASE_URL and the Valkey settings, else the ones a
 * running `npm start` advertised in `<RPA_DATA_DIR>/services.json`. Throws a one-line reason
 * when there is no database.
 */
export function serviceUrls(config: Config): { databaseUrl: string; valkey?: ValkeyEndpoint } {
  const advertised = advertisedServices(config);
  const databaseUrl = config.databaseUrl ?? advertised?.databaseUrl;
  if (!databaseUrl) {
    throw new RpaError('SERVICE_UNAVAILABLE', `no database to talk to: set DATABASE_URL, or start the system (npm start) so ${config.dataDir}/services.json names its embedded Postgres`);
  }
  return { databaseUrl, valkey: config.valkey ?? advertised?.valkey };
}

/** The Valkey the server would use (see serviceUrls); throws a one-line reason when there is none. */
export function valkeyToTalkTo(config: Config): ValkeyEndpoint {
  const valkey = config.valkey ?? advertisedServices(config)?.valkey;
  if (!valkey) {
    throw new RpaError(
      'SERVICE_UNAVAILABLE',
      `no Valkey to talk to: set VALKEY_URL (or VALKEY_SENTINELS, VALKEY_CLUSTER_NODES), or start the system (npm start) so ${config.dataDir}/services.json names its embedded Valkey`,
    );
  }
  return valkey;
}

/** Opens Postgres (and Valkey with `valkey: true`) for one command; `close()` releases both. */
export async function openCliContext(options: { valkey?: boolean } = {}): Promise<CliContext> {
  const config = loadConfig();
  const urls = serviceUrls(config);
  const valkey = options.valkey ? valkeyToTalkTo(config) : undefined;
  const db = createDb(urls.databaseUrl, { max: 2 });
  const context: CliContext = {
    config,
    db,
    close: async () => {
      await context.queues?.close();
      context.valkey?.disconnect();
      await db.destroy();
    },
  };
  if (valkey) {
    context.valkey = createValkey(valkey, 'producer', { enableOfflineQueue: true });
    context.queues = new QueueRegistry(context.valkey, config.queuePrefix);
    context.enqueuer = new JobEnqueuer(db, context.queues, silentLogger);
  }
  return context;
}

/** Runs `work` with an open context and always closes it. */
export async function withCliContext<T>(options: { valkey?: boolean }, work: (context: CliContext) => Promise<T>): Promise<T> {
  const context = await openCliContext(options);
  try {
    return await work(context);
  } finally {
    await context.close();
  }
}
