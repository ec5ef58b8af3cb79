import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RpaError } from '../../errors/failures.js';
import { freePort } from '../../infra/free-port.js';
import { stopStaleProcess } from '../../infra/stale-process.js';
import type { Logger } from '../../logger.js';
import { waitForPoolReady, type PoolBackend, type StartedPool } from './pool-backend.js';
import { poolProcessEnvironment, type PoolProcessSettings } from './pool-environment.js';

/** The orchestrator's own entry point, as built: `dist/src/main.js`. */
export const DEFAULT_MAIN_SCRIPT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'main.js');

export interface LocalBackendOptions {
  /** Program and arguments that start one pool (default: this Node running `dist/src/main.js`). */
  command?: { file: string; args: string[] };
  /** The pools' settings (size, limits, Chromium, log level, data folder); port and token are the backend's. */
  pool: Omit<PoolProcessSettings, 'port' | 'token'>;
  /** The fleet's pool token. Never logged. */
  token: string;
  /** Where the machine's basics (PATH, HOME …) are read from (default process.env); nothing else of it reaches a pool. */
  env?: NodeJS.ProcessEnv;
  /** Folder for one pid file per child, so a restarted manager can stop what it left behind. */
  pidDir: string;
  readyTimeoutMs: number;
  logger: Logger;
  stdio?: 'inherit' | 'ignore';
}

/**
 * Starts pools as processes on this machine (`RPA_ROLES=browser` on a free loopback port), with
 * pid files under `pidDir` so that a restarted fleet stops what an earlier one left behind.
 */
export class LocalPoolBackend implements PoolBackend {
  private readonly children = new Map<string, ChildProcess>();

  constructor(private readonly o: LocalBackendOptions) {
    mkdirSync(o.pidDir, { recursive: true });
  }

  private pidFile(id: string): string {
    return join(this.o.pidDir, `${id}.pid`);
  }

  async provision(id: string, signal: AbortSignal): Promise<StartedPool> {
    const deadline = Date.now() + this.o.readyTimeoutMs;
    const port = await freePort();
    const command = this.o.command ?? { file: process.execPath, args: ['--enable-source-maps', DEFAULT_MAIN_SCRIPT] };
    const child = spawn(command.file, command.args, {
      // Only what a pool needs: none of this process's secrets (pool-environment.ts).
      env: poolProcessEnvironment({ ...this.o.pool, port, token: this.o.token }, this.o.env),
      stdio: ['ignore', this.o.stdio ?? 'inherit', this.o.stdio ?? 'inherit'],
    });
    this.children.set(id, child);
    if (child.pid) writeFileSync(this.pidFile(id), `${child.pid}\n`);
    const url = `http://127.0.0.1:${port}`;
    const exited = new AbortController();
    const early = once(child, 'exit').then(([code, sig]) => {
      exited.abort();
      throw new RpaError('BROWSER_GONE', `pool process exited (${sig ?? `code ${code}`}) before it was ready`);
    });
    const spawnError = once(child, 'error').then(([err]) => {
      throw new RpaError('BROWSER_GONE', `pool process could not start: ${(err as Error).message}`, { cause: err });
    });
    early.catch(() => undefined);
    spawnError.catch(() => undefined);
    try {
      await Promise.race([waitForPoolReady(url, this.o.token, deadline, AbortSignal.any([signal, exited.signal])), early, spawnError]);
      return { id, url };
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
