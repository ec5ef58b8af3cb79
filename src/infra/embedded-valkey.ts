import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'iovalkey';
import { RpaError } from '../errors/failures.js';
import type { Logger } from '../logger.js';
import { freePort } from './free-port.js';
import { stopStaleProcess } from './stale-process.js';
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
  'no valkey-server or redis-server found: install one (Debian/Ubuntu: apt-get install redis-server) or set VALKEY_URL';

/**
 * Runs a private valkey-server (or redis-server: same protocol) on 127.0.0.1 with AOF on and
 * `maxmemory-policy noeviction` (BullMQ must never lose keys to eviction). Data lives in `dir`.
 */
export async function startEmbeddedValkey(dir: string, logger: Logger, port?: number): Promise<EmbeddedValkeyHandle> {
  const binary = findBinary('valkey-server', 'redis-server');
  if (!binary) throw new RpaError('SERVICE_UNAVAILABLE', VALKEY_INSTALL_HINT);
  mkdirSync(dir, { recursive: true });
  const pidFile = join(dir, 'valkey.pid');
  await stopStaleProcess(pidFile);
  const listenPort = port ?? (await freePort());
  const log = logger.child({ component: 'embedded-valkey' });
  let child: ChildProcess | undefined;

  const launch = async () => {
    const args = [
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
    ];
    // Its own process group: a Ctrl-C to `npm start` must not stop Valkey before the
    // graceful shutdown that still needs it; close() stops it last.
    const proc = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child = proc;
    proc.stdout?.on('data', (d: Buffer) => log.debug(d.toString().trim()));
    proc.stderr?.on('data', (d: Buffer) => log.warn(d.toString().trim()));
    proc.on('exit', (code, signal) => {
      if (child === proc) child = undefined;
      log.debug({ code, signal }, 'valkey-server exited');
    });
    await waitForPing(listenPort, proc);
  };

  const stopChild = async (signal: NodeJS.Signals) => {
    const proc = child;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill(signal);
    await exited;
  };

  await launch();
  log.info({ port: listenPort, dir, binary }, 'embedded Valkey started');
  return {
    url: `redis://127.0.0.1:${listenPort}`,
    port: listenPort,
    stop: () => stopChild('SIGTERM'),
    restart: async () => {
      await stopChild('SIGTERM');
      await launch();
    },
    kill: () => stopChild('SIGKILL'),
  };
}

async function waitForPing(port: number, proc: ChildProcess): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new RpaError('SERVICE_UNAVAILABLE', `valkey-server exited with code ${proc.exitCode} while starting`);
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
  throw new RpaError('SERVICE_UNAVAILABLE', `valkey-server did not answer on port ${port}`);
}
