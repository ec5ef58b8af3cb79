import { RpaError } from '../../errors/failures.js';
import { repeatEvery, type Repeating } from '../../infra/repeat-every.js';
import type { Logger } from '../../logger.js';
import type { PoolDirectory } from '../client/pool-directory.js';
import type { PoolToken } from '../client/pool-token.js';
import { startPoolServer, type PoolServerOptions } from './pool-server.js';

export interface BrowserRoleOptions {
  /** The pool's size, limits and port (BROWSER_POOL_*); `chromiumPath` undefined = none found. */
  pool: Omit<PoolServerOptions, 'token' | 'host' | 'logger' | 'chromiumPath'> & { chromiumPath: string | undefined };
  /** The pool token; `configured` false means it was generated for this process alone. */
  token: PoolToken;
  configured: boolean;
  /** Address the pool binds when its token is configured (HOST); a generated token binds 127.0.0.1. */
  host: string;
  logger: Logger;
  /** In a process with Valkey: the pool is registered in the directory (and refreshed) while it runs. */
  registration?: { directory: PoolDirectory; id: string; registeredBy: string; refreshMs?: number };
}

export interface BrowserRole {
  /** Base URL of the pool's API (its browsers are on the same port). */
  url: string;
  /** The bearer token clients must send (generated when none was configured). Never logged. */
  token: string;
  /** The token's id in the directory and in Runtime.poolTokens. */
  tokenId: string;
  close(): Promise<void>;
}

/** How long a directory entry counts without a refresh, in refresh periods. */
const TTL_PERIODS = 3;

/**
 * Starts the `browser` role: the pool this process serves. With a configured token it binds
 * `host`, so other pods can lease from it; with a generated one it binds 127.0.0.1 only and the
 * token is for this process's own children (`npm start`). Registered in the pool directory when
 * `registration` is given, removed from it on close.
 */
export async function startBrowserRole(options: BrowserRoleOptions): Promise<BrowserRole> {
  const { chromiumPath } = options.pool;
  if (!chromiumPath) {
    throw new RpaError('CONFIG_INVALID', 'CHROMIUM_PATH: no Chromium found; install chromium or set CHROMIUM_PATH', { field: 'CHROMIUM_PATH' });
  }
  const logger = options.logger.child({ role: 'browser' });
  const server = await startPoolServer({
    ...options.pool,
    chromiumPath,
    token: options.token.token,
    host: options.configured ? options.host : '127.0.0.1',
    logger,
  });
  let refresh: Repeating | undefined;
  const reg = options.registration;
  if (reg) {
    const every = reg.refreshMs ?? 5_000;
    refresh = repeatEvery(
      every,
      async () => {
        const status = server.pool.status();
        await reg.directory.register(
          { id: reg.id, url: server.url, tokenId: options.token.id, freeSlots: status.freeSlots, busyContexts: status.busyContexts, registeredBy: reg.registeredBy },
          every * TTL_PERIODS,
        );
      },
      { logger, what: 'registering the pool in the directory' },
    );
  }
  let closing: Promise<void> | undefined;
  return {
    url: server.url,
    token: options.token.token,
    tokenId: options.token.id,
    close: () => {
      // Every step runs even when one fails.
      closing ??= (async () => {
        await refresh?.close();
        if (reg) await reg.directory.remove(reg.id).catch((err: unknown) => logger.warn({ err }, 'removing the pool from the directory failed'));
        await server.close();
      })();
      return closing;
    },
  };
}
