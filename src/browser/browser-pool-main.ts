import { randomBytes } from 'node:crypto';
import type { Config } from '../config/config.js';
import { RpaError } from '../errors/failures.js';
import type { Logger } from '../logger.js';
import { startBrowserPoolServer } from './browser-pool-server.js';

export interface BrowserRole {
  /** Base URL of the pool's HTTP API. */
  url: string;
  /** The bearer token clients must send (generated when none was configured). */
  token: string;
  close(): Promise<void>;
}

/**
 * Starts the `browser` role: the browser pool server from `config.browserPool`
 * (BROWSER_POOL_PORT, BROWSER_POOL_SIZE, BROWSER_POOL_TOKEN, BROWSER_MAX_CONTEXTS,
 * BROWSER_RETIRE_AFTER_CONTEXTS, BROWSER_MAX_MEMORY_MB). With a configured token it binds
 * `config.host`, so other pods can lease from it. Without one it makes a random token, binds
 * 127.0.0.1 only and returns the token for in-process clients (single-process `npm start`).
 */
export async function startBrowserRole(config: Config, logger: Logger): Promise<BrowserRole> {
  if (!config.chromiumPath) {
    throw new RpaError('CONFIG_INVALID', 'CHROMIUM_PATH: no Chromium found; install chromium or set CHROMIUM_PATH', { field: 'CHROMIUM_PATH' });
  }
  const configured = config.browserPool.token;
  const token = configured ?? randomBytes(32).toString('base64url');
  const host = configured ? config.host : '127.0.0.1';
  const server = await startBrowserPoolServer({
    size: config.browserPool.size,
    chromiumPath: config.chromiumPath,
    token,
    port: config.browserPool.port,
    host,
    maxContextsPerBrowser: config.browserPool.maxContextsPerBrowser,
    retireAfterContexts: config.browserPool.retireAfterContexts,
    maxMemoryMb: config.browserPool.maxMemoryMb,
    logger: logger.child({ role: 'browser' }),
  });
  return { url: server.url, token, close: () => server.close() };
}
