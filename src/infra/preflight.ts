import { accessSync, constants, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import { RpaError } from '../errors/failures.js';
import { VALKEY_INSTALL_HINT } from './embedded-valkey.js';
import { findBinary } from './system-binaries.js';

/** Says which setting moves a port that is taken. */
export function portTaken(port: number, host: string, setting: string, cause?: unknown): RpaError {
  return new RpaError('STARTUP_FAILED', `port ${port} on ${host} is already in use (another program, or another \`npm start\`): stop it, or choose another port with ${setting}`, {
    cause,
    field: setting,
  });
}

/** Resolves when `port` can be bound on `host` now (0 always can). */
export function assertPortFree(port: number, host: string, setting: string): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') reject(portTaken(port, host, setting, error));
      else if (error.code === 'EACCES') reject(new RpaError('STARTUP_FAILED', `port ${port} on ${host} may not be bound by this user: choose a port above 1023 with ${setting}`, { cause: error, field: setting }));
      else reject(new RpaError('STARTUP_FAILED', `cannot listen on ${host}:${port} (${error.code}): check ${setting} and HOST`, { cause: error, field: setting }));
    });
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

/** The data folder exists (made private, 0700, if it did not) and this process can write to it. */
export function assertWritableDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, constants.W_OK | constants.X_OK);
    const probe = join(dir, `.write-test-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'error';
    throw new RpaError('STARTUP_FAILED', `the data folder ${dir} is not writable (${code}): fix its permissions, or choose another folder with RPA_DATA_DIR`, {
      cause,
      field: 'RPA_DATA_DIR',
    });
  }
}

/** True when this process's roles need Postgres and Valkey. */
export function usesServices(config: Config): boolean {
  return config.roles.some((r) => r === 'api' || r === 'batcher' || r === 'worker' || r === 'maintenance');
}

/** True when it starts Postgres or Valkey of its own, with their files in the data folder. */
export function usesEmbeddedServices(config: Config): boolean {
  return usesServices(config) && (!config.databaseUrl || !config.valkey);
}

/**
 * What a start needs before it starts anything, checked up front so that a missing program or
 * a taken port fails in a second with one clear message and nothing left running.
 */
export async function preflight(config: Config): Promise<void> {
  const has = (role: Config['roles'][number]) => config.roles.includes(role);
  const needsServices = usesServices(config);
  if (needsServices && !config.valkey && !findBinary('valkey-server', 'redis-server')) throw new RpaError('STARTUP_FAILED', VALKEY_INSTALL_HINT);
  const runsBrowsers = has('browser') || (has('worker') && !config.browserPool.url && config.browserManager.mode === 'local');
  if (runsBrowsers && !config.chromiumPath) {
    throw new RpaError('STARTUP_FAILED', 'no Chromium on PATH: install it (Debian/Ubuntu: sudo apt-get install chromium), or point CHROMIUM_PATH at yours', { field: 'CHROMIUM_PATH' });
  }
  if (needsServices) await assertPortFree(config.port, config.host, 'PORT');
  if (has('browser')) await assertPortFree(config.browserPool.port, config.browserPool.token ? config.host : '127.0.0.1', 'BROWSER_POOL_PORT');
  if (has('portals')) {
    for (const p of Object.values(config.providers)) if (p.practice) await assertPortFree(p.practicePort, '127.0.0.1', `${p.descriptor.name.toUpperCase()}_PORT`);
  }
}
