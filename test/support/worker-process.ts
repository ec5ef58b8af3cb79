import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SystemHarness } from './system-harness.js';
import { testRoot, uniquePrefix } from './shared-services.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));

/**
 * The worker role in its own process (`node dist/src/main.js`, RPA_ROLES=worker), as Kubernetes
 * runs it, against the services, browser pool and practice portals the harness started.
 */
export function startWorkerProcess(harness: SystemHarness, providers: readonly string[], env: Record<string, string> = {}): ChildProcess {
  const config = harness.system.config;
  const runtime = harness.system.runtime!;
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    RPA_ROLES: 'worker',
    RPA_DATA_DIR: join(testRoot(), uniquePrefix('worker')),
    DATABASE_URL: runtime.databaseUrl,
    VALKEY_URL: runtime.valkeyUrl,
    QUEUE_PREFIX: config.queuePrefix,
    BROWSER_POOL_URL: runtime.browserPool?.url,
    BROWSER_POOL_TOKEN: runtime.browserPool?.token,
    CALLBACK_ALLOW_HOSTS: '127.0.0.1:*',
    CALLBACK_SECRET: config.callbackSecret,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    ...env,
  };
  for (const name of providers) {
    const p = config.providers[name]!;
    const prefix = name.toUpperCase();
    childEnv[`${prefix}_URL`] = runtime.portalUrls[name];
    childEnv[`${prefix}_${p.descriptor.loginField.toUpperCase()}`] = p.login;
    childEnv[`${prefix}_PASSWORD`] = p.password;
    if (p.totpSecret) childEnv[`${prefix}_TOTP_SECRET`] = p.totpSecret;
  }
  return spawn(process.execPath, [MAIN], { env: childEnv, stdio: ['ignore', 'inherit', 'inherit'] });
}

/** Resolves with the exit code (or the signal's name) once the process has exited. */
export function exited(child: ChildProcess): Promise<number | string> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode ?? child.signalCode!);
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
}

export async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
