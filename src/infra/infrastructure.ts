import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import type { ValkeyEndpoint } from '../config/valkey-endpoint.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from './embedded-postgres.js';
import { startEmbeddedValkey, type EmbeddedValkeyHandle } from './embedded-valkey.js';
import type { Logger } from '../logger.js';
import { servicesFile, type AdvertisedServices } from './services-file.js';

export interface Infrastructure {
  databaseUrl: string;
  valkey: ValkeyEndpoint;
  /** Which of the two this process started itself (embedded defaults). */
  embedded: { postgres: boolean; valkey: boolean };
  close(): Promise<void>;
}

/**
 * Postgres and Valkey for this process: the configured ones, or embedded servers whose data
 * lives under RPA_DATA_DIR (kept across restarts).
 */
export async function startInfrastructure(config: Config, logger: Logger, options: { advertise?: boolean } = {}): Promise<Infrastructure> {
  mkdirSync(config.dataDir, { recursive: true });
  let postgres: EmbeddedPostgresHandle | undefined;
  let valkey: EmbeddedValkeyHandle | undefined;
  try {
    if (!config.databaseUrl) {
      postgres = await startEmbeddedPostgres(join(config.dataDir, 'postgres'), logger);
      // The server's own maintenance database is kept apart from ours.
      await ensureDatabase(postgres.url, 'rpa');
    }
    if (!config.valkey) valkey = await startEmbeddedValkey(join(config.dataDir, 'valkey'), logger);
  } catch (error) {
    await Promise.allSettled([postgres?.stop(), valkey?.stop()]);
    throw error;
  }
  const databaseUrl = config.databaseUrl ?? postgres!.urlFor('rpa');
  const valkeyEndpoint: ValkeyEndpoint = config.valkey ?? { mode: 'server', url: valkey!.url };
  if (options.advertise) {
    const advertised: AdvertisedServices = { databaseUrl, valkey: valkeyEndpoint, pid: process.pid };
    writeFileSync(servicesFile(config), JSON.stringify(advertised), { mode: 0o600 });
  }
  return {
    databaseUrl,
    valkey: valkeyEndpoint,
    embedded: { postgres: Boolean(postgres), valkey: Boolean(valkey) },
    close: async () => {
      if (options.advertise) rmSync(servicesFile(config), { force: true });
      await Promise.allSettled([valkey?.stop(), postgres?.stop()]);
    },
  };
}

async function ensureDatabase(serverUrl: string, name: string): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
}
