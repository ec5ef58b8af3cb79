import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultChromiumPath } from '../../src/config/settings.js';
import type { Logger } from '../../src/logger.js';
import { startPoolServer, type PoolServer, type PoolServerOptions } from '../../src/browser/pool/pool-server.js';
import { testLogger } from '../support/shared-services.js';

export const chromiumPath = (): string => {
  const path = defaultChromiumPath();
  if (!path) throw new Error('no Chromium installed (expected /usr/bin/chromium)');
  return path;
};

export interface TestPool extends PoolServer {
  token: string;
}

/** A real pool on 127.0.0.1 with small defaults; the caller closes it. */
export async function startTestPool(overrides: Partial<PoolServerOptions> = {}, logger: Logger = testLogger): Promise<TestPool> {
  const token = randomBytes(24).toString('base64url');
  const server = await startPoolServer({
    size: 1,
    chromiumPath: chromiumPath(),
    token,
    host: '127.0.0.1',
    maxContextsPerBrowser: 2,
    retireAfterContexts: 100,
    maxMemoryMb: 4096,
    logger,
    ...overrides,
  });
  return { ...server, token };
}

/** Polls `predicate` until it holds; fails with `what` after `timeoutMs`. */
export async function waitFor(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(50);
  }
}

/** A tiny local page server: GET / → a page with an <h1>. */
export async function startPageServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>pool test</title><h1>hello from ${req.url}</h1>`);
  });
  await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.closeAllConnections();
        server.close(() => resolveClose());
      }),
  };
}
