import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { RpaError } from '../../errors/failures.js';
import { bearerAuth } from '../../http/bearer-auth.js';
import { jsonErrorHandler, jsonNotFound } from '../../http/json-errors.js';
import type { Logger } from '../../logger.js';
import { BrowserPool, type BrowserPoolOptions } from './browser-pool.js';
import { BrowserProxy } from './browser-proxy.js';
import type { LeaseGrant, LeaseRequest } from './pool-api.js';

export interface PoolServerOptions {
  size: number;
  chromiumPath: string;
  /** Bearer token every call except /health/* must carry, the browsers' WebSocket upgrades included. */
  token: string;
  /** The pool's one port: HTTP API and browsers (default 0 = any free port). */
  port?: number;
  /** Address that port binds (default 127.0.0.1). The browsers themselves always bind 127.0.0.1. */
  host?: string;
  maxContextsPerBrowser: number;
  retireAfterContexts: number;
  maxMemoryMb: number;
  logger: Logger;
  /** Lease, probe and launch timings; see BrowserPoolOptions. */
  pool?: Pick<BrowserPoolOptions, 'defaultLeaseTtlMs' | 'maxLeaseTtlMs' | 'healthIntervalMs' | 'launchTimeoutMs' | 'probeTimeoutMs'>;
}

export interface PoolServer {
  /** Base URL of the HTTP API, e.g. http://127.0.0.1:41234 */
  url: string;
  /** The one port the pool listens on (API and browsers). */
  port: number;
  pool: BrowserPool;
  close(): Promise<void>;
}

/**
 * Starts a pool (launching `size` Chromium servers) and serves, on one port, its HTTP API:
 *
 * - `GET /health/live`, `GET /health/ready` (no auth; ready = a ready browser has room)
 * - `GET /browsers` → `{ browsers: BrowserInfo[] }`
 * - `GET /status` → `PoolStatus` (includes `playwrightVersion`)
 * - `POST /leases` `{ ttlMs?, avoidBrowserIds? }` → `LeaseGrant`; 429 when full, 503 when no browser is ready
 * - `POST /leases/:id/renew` `{ ttlMs? }` → `{ leaseId, expiresAt }`; 404 when the lease is gone
 * - `DELETE /leases/:id` → 204 (idempotent)
 *
 * and every browser's Playwright WebSocket at `/browsers/<id>/<secret>` (BrowserProxy; the pool
 * token as a bearer header). The ws endpoint in a grant names the host and port the client
 * called, so a client reaches the browser exactly the way it reached the API: the pool port is
 * the only one a pod, a Service or a NetworkPolicy has to open. The secret is never logged.
 */
export async function startPoolServer(options: PoolServerOptions): Promise<PoolServer> {
  if (options.token.length < 16) throw new RpaError('CONFIG_INVALID', 'browser pool token must be at least 16 characters', { field: 'token' });
  const host = options.host ?? '127.0.0.1';
  const logger = options.logger.child({ component: 'pool-server' });
  const pool = new BrowserPool({
    size: options.size,
    chromiumPath: options.chromiumPath,
    maxContextsPerBrowser: options.maxContextsPerBrowser,
    retireAfterContexts: options.retireAfterContexts,
    maxMemoryMb: options.maxMemoryMb,
    logger: options.logger,
    ...options.pool,
  });
  await pool.start();

  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  let port = options.port ?? 0;
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '16kb' }));

  app.get('/health/live', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/health/ready', (_req, res) => {
    const ready = pool.isReady();
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', browsers: pool.status().browsers });
  });

  app.use(bearerAuth(options.token));

  app.get('/status', (_req, res) => {
    res.json(pool.status());
  });
  app.get('/browsers', (_req, res) => {
    res.json({ browsers: pool.list() });
  });
  app.post('/leases', (req, res) => {
    const granted = pool.acquire(leaseRequest(req.body));
    const grant: LeaseGrant = {
      leaseId: granted.leaseId,
      browserId: granted.browser.id,
      wsEndpoint: browserEndpoint(req.get('host') ?? `${urlHost}:${port}`, granted.browser.endpointPath()),
      expiresAt: granted.expiresAt.toISOString(),
    };
    res.json(grant);
  });
  app.post('/leases/:id/renew', (req, res) => {
    const body = leaseRequest(req.body);
    const renewed = pool.renew(String(req.params.id), body.ttlMs);
    res.json({ leaseId: renewed.leaseId, browserId: renewed.browser.id, expiresAt: renewed.expiresAt.toISOString() });
  });
  app.delete('/leases/:id', (req, res) => {
    pool.release(String(req.params.id));
    res.status(204).end();
  });
  app.use(jsonNotFound);
  app.use(jsonErrorHandler(logger, 'browser pool request failed'));

  const proxy = new BrowserProxy({ token: options.token, browser: (id) => pool.get(id), logger: options.logger });
  let server: Server;
  try {
    server = await new Promise<Server>((resolveListen, reject) => {
      const s = app.listen(options.port ?? 0, host, (err?: Error) => (err ? reject(err) : resolveListen(s)));
      s.once('error', reject);
    });
  } catch (err) {
    await pool.close();
    throw err;
  }
  proxy.attach(server);
  port = (server.address() as AddressInfo).port;
  const url = `http://${urlHost}:${port}`;
  logger.info({ port, host, size: options.size }, 'pool listening (API and browsers on one port)');

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    pool,
    close: () => {
      // Every step runs even when one fails: the browsers must stop.
      closing ??= (async () => {
        const stopped = new Promise<void>((resolveClose) => server.close(() => resolveClose()));
        server.closeAllConnections();
        proxy.close();
        await stopped;
        await pool.close();
      })();
      return closing;
    },
  };
}

/**
 * The ws endpoint of a browser as a client reaches it: the host and port it called the pool by
 * (its `Host` header), and the browser's path on the pool's port. Contains the browser's secret.
 */
export function browserEndpoint(hostHeader: string, path: string): string {
  return `ws://${hostHeader}${path}`;
}

function leaseRequest(body: unknown): LeaseRequest {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw new RpaError('VALIDATION_FAILED', 'body must be a JSON object', { field: 'body' });
  const { ttlMs, avoidBrowserIds } = body as Record<string, unknown>;
  if (ttlMs !== undefined && !(typeof ttlMs === 'number' && Number.isInteger(ttlMs) && ttlMs > 0)) {
    throw new RpaError('VALIDATION_FAILED', 'ttlMs must be a positive whole number', { field: 'ttlMs' });
  }
  if (avoidBrowserIds !== undefined && !(Array.isArray(avoidBrowserIds) && avoidBrowserIds.every((id) => typeof id === 'string'))) {
    throw new RpaError('VALIDATION_FAILED', 'avoidBrowserIds must be a list of strings', { field: 'avoidBrowserIds' });
  }
  return { ttlMs: ttlMs as number | undefined, avoidBrowserIds: avoidBrowserIds as string[] | undefined };
}
