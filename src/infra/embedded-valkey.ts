import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'iovalkey';
import { RpaError } from '../errors/failures.js';
import type { Logger } from '../logger.js';
import { freePort } from './free-port.js';
import { stopStaleProcess } from './stale-process.js';
import { startServerProcess, type ServerProcess } from './server-process.js';
import { findBinary } from './system-binaries.js';

export interface EmbeddedValkeyHandle {
  url: string;
  port: number;
  /** Stops the server (SHUTDOWN, so the AOF is flushed). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data folder. */
  restart(): Promise<void>;
  /** Kills the server abruptly, as a crash would. */
  kill(): Promise<void>;
}

export const VALKEY_INSTALL_HINT =
  'no valkey-server or redis-server on PATH: install one (Debian/Ubuntu: sudo apt-get install redis-server), or set VALKEY_URL to your own server';

/**
 * Runs a private valkey-server (or redis-server: same protocol) on 127.0.0.1 with AOF on and
 * `maxmemory-policy noeviction` (BullMQ must never lose keys to eviction). Data lives in `dir`.
 */
export async function startEmbeddedValkey(dir: string, logger: Logger, port?: number): Promise<EmbeddedValkeyHandle> {
  const binary = findBinary('valkey-server', 'redis-server');
  if (!binary) throw new RpaError('STARTUP_FAILED', VALKEY_INSTALL_HINT);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pidFile = join(dir, 'valkey.pid');
  // Only ever called with the data folder's lock held: a live server here has lost its owner.
  await stopStaleProcess(pidFile, 15_000, basename(binary));
  const listenPort = port ?? (await freePort());
  const log = logger.child({ component: 'embedded-valkey' });
  let server: ServerProcess | undefined;

  const launch = async () => {
    server = await startServerProcess({
      name: 'embedded Valkey',
      command: binary,
      args: [
        '--port', String(listenPort),
        '--bind', '127.0.0.1',
        '--dir', dir,
        '--pidfile', pidFile,
        '--appendonly', 'yes',
        '--appendfsync', 'everysec',
        '--maxmemory-policy', 'noeviction',
        '--save', '',
        '--daemonize', 'no',
        '--protected-mode', 'yes',
        '--loglevel', 'warning',
      ],
      ready: (proc) => waitForPing(listenPort, proc),
      onLine: (line) => log.debug(line),
      hint: `Its files in ${dir} may be damaged (redis-check-aof --fix repairs an append-only file) or belong to another version: move the folder away, or start over with \`npx rpa reset\` (this deletes queued work; the jobs stay in Postgres); or set VALKEY_URL to your own server`,
    });
  };

  await launch();
  log.info({ port: listenPort, dir, binary }, 'embedded Valkey started');
  return {
    url: `redis://127.0.0.1:${listenPort}`,
    port: listenPort,
    stop: async () => server?.stop('SIGTERM'),
    restart: async () => {
      await server?.stop('SIGTERM');
      await launch();
    },
    kill: async () => server?.stop('SIGKILL'),
  };
}

async function waitForPing(port: number, proc: ChildProcess): Promise<void> {
  // Loading a large append-only file takes a while; the server's own exit ends the wait early.
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && proc.exitCode === null) {
    const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    try {
      await client.connect();
      // AOF loading answers LOADING errors to commands until done.
      if ((await client.ping()) === 'PONG') return;
    } catch {
      // not up yet
    } finally {
      client.disconnect();
    }
    await sleep(50);
  }
  throw new RpaError('STARTUP_FAILED', `embedded Valkey did not answer on port ${port} within 60 s`);
}
