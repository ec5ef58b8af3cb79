import { randomBytes, randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { RpaError } from '../errors/failures.js';
import { coerceError } from '../errors/coerce-error.js';
import { bearerAuth } from '../http/bearer-auth.js';
import { jsonErrorHandler, jsonNotFound } from '../http/json-errors.js';
import type { Logger } from '../logger.js';
import type { BrowserServiceManager } from './browser-service-manager.js';

/** What `POST /acquire` answers: a pool to lease from, held until released or expired. */
export interface EndpointGrant {
  /** The broker's id of this hand-out; renew and release name it. */
  grantId: string;
  /** The browser service (pod name or local id). */
  id: string;
  /** Base URL of the pool's HTTP API. */
  url: string;
  /** The pool's bearer token. Never log it. */
  token?: string;
  /** The grant is dropped (and the service given back) unless renewed within this long. */
  ttlMs: number;
}

export interface BrowserBrokerOptions {
  manager: BrowserServiceManager;
  logger: Logger;
  /** Bearer token the children send (default: 32 random bytes). Never logged. */
  token?: string;
  /** How long a grant lives without renewal (default 2 min); a child that died frees its grant after this. */
  grantTtlMs?: number;
  /** Resolves when the manager may hand out services (its start-up clean-up is done). */
  ready?: Promise<unknown>;
}

interface Grant {
  id: string;
  expiresAt: number;
}


/**
 * Hands the worker's browser services to its sandboxed batch children. The manager lives in the
 * worker process, the batches in child processes: the broker is the manager's `acquire` and
 * `release` over loopback HTTP, behind a random bearer token the children get in their
 * environment.
 *
 * - `POST /acquire` → `EndpointGrant` (waits while the manager starts a service)
 * - `POST /renew` `{ grantId }` → `{ grantId, ttlMs }`; 404 when the grant is gone
 * - `POST /release` `{ grantId, retire? }` → 204, also for an unknown grant (idempotent)
 *
 * A grant not renewed within its TTL is released by the broker: a child that crashed must not
 * keep its service counted as busy for ever (the manager would never stop it as idle).
 */
export class BrowserBroker {
  readonly token: string;
  private readonly grantTtlMs: number;
  private readonly grants = new Map<string, Grant>();
  private readonly log: Logger;
  private server?: Server;
  private sweeper?: NodeJS.Timeout;
  private baseUrl?: string;
  private closing?: Promise<void>;

  constructor(private readonly o: BrowserBrokerOptions) {
    this.token = o.token ?? randomBytes(32).toString('base64url');
    if (this.token.length < 16) throw new RpaError('CONFIG_INVALID', 'browser broker token must be at least 16 characters', { field: 'token' });
    this.grantTtlMs = o.grantTtlMs ?? 120_000;
    this.log = o.logger.child({ component: 'browser-broker' });
  }

  /** Base URL, e.g. http://127.0.0.1:41234 (after `start`). */
  get url(): string {
    if (!this.baseUrl) throw new Error('browser broker is not started');
    return this.baseUrl;
  }

  /** Grants handed out and not yet released or expired. */
  outstanding(): number {
    return this.grants.size;
  }

  /** Listens on 127.0.0.1 only, on a free port: nothing outside this machine reaches it. */
  async start(): Promise<this> {
    const app = express();
    app.disable('x-powered-by');
    app.use(bearerAuth(this.token));
    app.use(express.json({ limit: '4kb' }));
    app.post('/acquire', async (req, res) => {
      // A failed start-up is logged by whoever started the manager; acquire may still work.
      await Promise.resolve(this.o.ready).catch(() => undefined);
      // A child that gave up (timed out, died) while we waited must not be left holding a service.
      let gone = false;
      res.once('close', () => {
        gone = !res.writableFinished;
      });
      const endpoint = await this.o.manager.acquire();
      if (gone || req.socket.destroyed) {
        await this.o.manager.release(endpoint.id);
        return;
      }
      const grantId = randomUUID();
      this.grants.set(grantId, { id: endpoint.id, expiresAt: Date.now() + this.grantTtlMs });
      const grant: EndpointGrant = { grantId, id: endpoint.id, url: endpoint.url, token: endpoint.token, ttlMs: this.grantTtlMs };
      res.json(grant);
    });
    app.post('/renew', (req, res) => {
      const { grantId } = grantRequest(req.body);
      const grant = this.grants.get(grantId);
      if (!grant) throw new RpaError('NOT_FOUND', 'no such grant (released or expired)');
      grant.expiresAt = Date.now() + this.grantTtlMs;
      res.json({ grantId, ttlMs: this.grantTtlMs });
    });
    app.post('/release', async (req, res) => {
      const { grantId, retire } = grantRequest(req.body);
      await this.releaseGrant(grantId, retire ? 'retired by a worker' : undefined);
      res.status(204).end();
    });
    app.use(jsonNotFound);
    app.use(jsonErrorHandler(this.log, 'browser broker request failed'));

    this.server = await new Promise<Server>((resolve, reject) => {
      const s = app.listen(0, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve(s)));
      s.once('error', reject);
    });
    this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.sweeper = setInterval(() => void this.expire(), Math.max(250, Math.floor(this.grantTtlMs / 4)));
    this.sweeper.unref();
    this.log.info({ url: this.baseUrl, grant_ttl_ms: this.grantTtlMs }, 'browser broker listening');
    return this;
  }

  /** Stops answering; grants still out are the manager's to clean up when it closes. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.sweeper) clearInterval(this.sweeper);
      const server = this.server;
      if (!server) return;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await stopped;
    })();
    return this.closing;
  }

  private async releaseGrant(grantId: string, retire?: string): Promise<void> {
    const grant = this.grants.get(grantId);
    if (!grant) return;
    this.grants.delete(grantId);
    if (retire) this.log.warn({ browser_service: grant.id, why: retire }, 'retiring browser service');
    await this.o.manager.release(grant.id, { retire: retire !== undefined });
  }

  private async expire(): Promise<void> {
    const now = Date.now();
    for (const [grantId, grant] of this.grants) {
      if (grant.expiresAt > now) continue;
      this.log.warn({ browser_service: grant.id }, 'browser grant expired without release (its batch process died?); giving the service back');
      await this.releaseGrant(grantId).catch((err: unknown) => this.log.warn({ err: coerceError(err).toJSON() }, 'releasing an expired grant failed'));
    }
  }
}

function grantRequest(body: unknown): { grantId: string; retire: boolean } {
  const { grantId, retire } = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  if (typeof grantId !== 'string' || grantId.length === 0) throw new RpaError('VALIDATION_FAILED', 'grantId must be a string', { field: 'grantId' });
  if (retire !== undefined && typeof retire !== 'boolean') throw new RpaError('VALIDATION_FAILED', 'retire must be true or false', { field: 'retire' });
  return { grantId, retire: retire === true };
}




