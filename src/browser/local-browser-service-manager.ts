import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/config.js';
import { RpaError } from '../errors/failures.js';
import { freePort } from '../infra/free-port.js';
import { stopStaleProcess } from '../infra/stale-process.js';
import type { Logger } from '../logger.js';
import { capacityPolicy } from './browser-capacity.js';
import { PooledBrowserServiceManager, waitForPoolReady, type BrowserPoolEndpoint, type BrowserServiceBackend } from './browser-service-manager.js';

/** The orchestrator's own entry point, as built: `dist/src/main.js`. */
export const DEFAULT_MAIN_SCRIPT = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'main.js');

export interface LocalBackendOptions {
  /** Program and arguments that start one browser pool; the pool's settings come by environment. */
  command: { file: string; args: string[] };
  /** Environment the children inherit (PATH, CHROMIUM_PATH, LOG_LEVEL …); pool settings are set on top. */
  env: NodeJS.ProcessEnv;
  token: string;
  /** Folder for one pid file per child, so a restarted manager can stop what it left behind. */
  pidDir: string;
  readyTimeoutMs: number;
  logger: Logger;
  stdio?: 'inherit' | 'ignore';
}

/** Starts browser-pool processes on this machine (`RPA_ROLES=browser` on a free port). */
export class LocalBrowserBackend implements BrowserServiceBackend {
  private readonly children = new Map<string, ChildProcess>();

  constructor(private readonly o: LocalBackendOptions) {
    mkdirSync(o.pidDir, { recursive: true });
  }

  private pidFile(id: string): string {
    return join(this.o.pidDir, `${id}.pid`);
  }

  async provision(id: string, signal: AbortSignal): Promise<BrowserPoolEndpoint> {
    const deadline = Date.now() + this.o.readyTimeoutMs;
    const port = await freePort();
    const child = spawn(this.o.command.file, this.o.command.args, {
      env: {
        ...this.o.env,
        RPA_ROLES: 'browser',
        HOST: '127.0.0.1',
        BROWSER_POOL_PORT: String(port),
        BROWSER_POOL_TOKEN: this.o.token,
        // The child must not take the API port of the process that started it.
        PORT: '0',
      },
      stdio: ['ignore', this.o.stdio ?? 'inherit', this.o.stdio ?? 'inherit'],
    });
    this.children.set(id, child);
    if (child.pid) writeFileSync(this.pidFile(id), `${child.pid}\n`);
    const url = `http://127.0.0.1:${port}`;
    const exited = new AbortController();
    const early = once(child, 'exit').then(([code, sig]) => {
      exited.abort();
      throw new RpaError('BROWSER_GONE', `browser pool process exited (${sig ?? `code ${code}`}) before it was ready`);
    });
    const spawnError = once(child, 'error').then(([err]) => {
      throw new RpaError('BROWSER_GONE', `browser pool process could not start: ${(err as Error).message}`, { cause: err });
    });
    early.catch(() => undefined);
    spawnError.catch(() => undefined);
    try {
      await Promise.race([waitForPoolReady(url, this.o.token, deadline, AbortSignal.any([signal, exited.signal])), early, spawnError]);
      return { id, url, token: this.o.token };
    } catch (err) {
      await this.terminate(id);
      throw err;
    }
  }

  async isAlive(id: string): Promise<boolean> {
    const child = this.children.get(id);
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  async terminate(id: string): Promise<void> {
    const child = this.children.get(id);
    this.children.delete(id);
    if (child && child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      const exit = once(child, 'exit');
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      killer.unref();
      await exit;
      clearTimeout(killer);
    }
    rmSync(this.pidFile(id), { force: true });
  }

  /** Stops processes whose pid files an earlier run left (it was killed before it could stop them). */
  async cleanupOrphans(): Promise<string[]> {
    const orphans: string[] = [];
    for (const name of readdirSync(this.o.pidDir)) {
      if (!name.endsWith('.pid')) continue;
      const id = name.slice(0, -'.pid'.length);
      if (this.children.has(id)) continue;
      await stopStaleProcess(join(this.o.pidDir, name), 10_000);
      rmSync(join(this.o.pidDir, name), { force: true });
      orphans.push(id);
    }
    return orphans;
  }

  async close(): Promise<void> {
    await Promise.all([...this.children.keys()].map((id) => this.terminate(id)));
  }
}

export interface LocalManagerOptions {
  logger: Logger;
  /** Environment the browser-pool processes inherit; main passes process.env. */
  env: NodeJS.ProcessEnv;
  /** Default: this Node running `dist/src/main.js`. */
  command?: { file: string; args: string[] };
  stdio?: 'inherit' | 'ignore';
  reconcileIntervalMs?: number;
  now?: () => Date;
}

/** Browser-pool processes on this machine, behind the same interface as the pods in a cluster. */
export class LocalBrowserServiceManager extends PooledBrowserServiceManager {
  readonly backend: LocalBrowserBackend;

  constructor(config: Config, options: LocalManagerOptions) {
    const m = config.browserManager;
    const logger = options.logger.child({ component: 'browser-service-manager', mode: 'local' });
    const backend = new LocalBrowserBackend({
      command: options.command ?? { file: process.execPath, args: ['--enable-source-maps', DEFAULT_MAIN_SCRIPT] },
      env: options.env,
      token: config.browserPool.token ?? randomBytes(24).toString('hex'),
      pidDir: join(config.dataDir, 'browser-services'),
      readyTimeoutMs: m.readyTimeoutMs,
      logger,
      stdio: options.stdio,
    });
    super({
      policy: capacityPolicy(config),
      backend,
      logger,
      readyTimeoutMs: m.readyTimeoutMs,
      reconcileIntervalMs: options.reconcileIntervalMs,
      idPrefix: 'local-browser',
      now: options.now,
    });
    this.backend = backend;
  }
}
