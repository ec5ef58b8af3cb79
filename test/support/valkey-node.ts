import { mkdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'iovalkey';
import { findBinary } from '../../src/infra/system-binaries.js';
import { startServerProcess, type ServerProcess } from '../../src/infra/server-process.js';
import { testLogger } from './shared-services.js';

/** One redis-server (or valkey-server, or a sentinel) process of a test's own, on 127.0.0.1. */
export interface ValkeyNode {
  readonly port: number;
  readonly dir: string;
  /** kill -9, as a crash would. */
  kill(): Promise<void>;
  /** Starts it again with the same arguments, port and folder. */
  restart(): Promise<void>;
  /** A client of this one process (the caller disconnects it). */
  client(): Redis;
  stop(): Promise<void>;
}

/** The program for `kind`; a missing one fails the test with what to install. */
export function valkeyBinary(kind: 'server' | 'sentinel' | 'cli'): string {
  const names = { server: ['valkey-server', 'redis-server'], sentinel: ['valkey-sentinel', 'redis-sentinel'], cli: ['valkey-cli', 'redis-cli'] }[kind];
  const found = findBinary(...names);
  if (!found) throw new Error(`${names.join(' or ')} is not on PATH: npm test installs it (scripts/bootstrap.mjs), or run apt-get install redis-server redis-sentinel`);
  return found;
}

/**
 * Starts `binary args…` and waits until it answers PING (with `password`). Its output goes to
 * the test logger at debug level.
 */
export async function startValkeyNode(options: { binary: string; args: string[]; port: number; dir: string; password?: string; name: string }): Promise<ValkeyNode> {
  mkdirSync(options.dir, { recursive: true });
  const log = testLogger.child({ component: options.name });
  let server: ServerProcess | undefined;
  const client = () => {
    const c = new Redis({ host: '127.0.0.1', port: options.port, password: options.password, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    c.on('error', () => undefined);
    return c;
  };
  const launch = async () => {
    server = await startServerProcess({
      name: options.name,
      command: options.binary,
      args: options.args,
      spawn: { cwd: options.dir },
      ready: async (proc) => {
        const deadline = Date.now() + 30_000;
        while (Date.now() < deadline && proc.exitCode === null) {
          const c = client();
          try {
            await c.connect();
            if ((await c.ping()) === 'PONG') return;
          } catch {
            // not up yet
          } finally {
            c.disconnect();
          }
          await sleep(50);
        }
        throw new Error(`${options.name} did not answer on port ${options.port}`);
      },
      onLine: (line) => log.debug(line),
      hint: `see ${options.dir}`,
    });
  };
  await launch();
  return {
    port: options.port,
    dir: options.dir,
    kill: async () => server?.stop('SIGKILL'),
    restart: async () => {
      await server?.stop('SIGKILL');
      await launch();
    },
    client: () => {
      const c = client();
      void c.connect().catch(() => undefined);
      return c;
    },
    stop: async () => server?.stop('SIGTERM', 10_000),
  };
}
