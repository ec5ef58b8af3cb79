import { setTimeout as sleep } from 'node:timers/promises';
import { chromium, type Browser, type BrowserContextOptions } from 'playwright-core';
import { backoffMs } from '../../errors/backoff.js';
import { RpaError, hasScope, isErrorCode, isRpaError, type ErrorCode } from '../../errors/failures.js';
import { silentLogger, type Logger } from '../../logger.js';
import type { BrowserInfo, LeaseGrant, PoolErrorBody, PoolStatus } from '../pool/pool-api.js';
import { withTimeout } from '../../infra/with-timeout.js';
import { browserGoneError, isBrowserGone, scrubbedCause } from './browser-gone.js';
import { RemoteBrowserLease, type BrowserLease } from './browser-lease.js';
import { DEFAULT_CONTEXT_OPTIONS } from './context-options.js';
import { assertSamePlaywrightVersion } from './playwright-version.js';

export interface PoolClientOptions {
  /** Base URL of the pool's HTTP API. */
  url: string;
  /** The pool's bearer token. */
  token: string;
  logger?: Logger;
  /** Merged over DEFAULT_CONTEXT_OPTIONS for every leased context. */
  contextOptions?: BrowserContextOptions;
  /** TTL asked for each lease (default 2 min); the client renews at a third of it while held. */
  leaseTtlMs?: number;
  /** Longest wait for the ws connection to a browser (default 30 s). */
  connectTimeoutMs?: number;
  /** Timeout of each HTTP call to the pool (default 10 s). */
  requestTimeoutMs?: number;
  /**
   * How long a connection to a browser stays open after its last lease ends, so the next lease
   * on that browser costs only a new context (default 30 s; 0 = disconnect with the last lease).
   */
  keepConnectionMs?: number;
}

export interface LeaseOptions {
  /**
   * How long to keep asking for a free slot (429/503 from the pool) before BROWSER_POOL_EXHAUSTED
   * (default 30 s; 0 = ask once). Each HTTP call has its own `requestTimeoutMs`.
   */
  timeoutMs?: number;
  /** Browsers to avoid, e.g. the one that just failed; used only if no other has room. */
  avoidBrowserIds?: string[];
}

/** Browsers found gone while opening one lease that are skipped even once the lease's deadline passed. */
const MAX_GONE_RETRIES = 2;

/** One Playwright connection per browser endpoint, shared by the leases on that browser. */
interface Connection {
  browserId: string;
  browser: Promise<Browser>;
  leases: number;
  idleTimer?: NodeJS.Timeout;
}

/**
 * Leases isolated browser contexts from one pool (its `POST /leases`, renew, delete). Each lease
 * is a new context on a warm browser, reached through the pool's own port with the pool token
 * as a bearer header; connections are cached per browser (see `keepConnectionMs`). When a
 * browser dies under a lease, operations fail with RpaError BROWSER_GONE: lease again with
 * `avoidBrowserIds: [lease.browserId]`.
 */
export class PoolClient {
  private readonly url: string;
  private readonly token: string;
  private readonly logger: Logger;
  private readonly contextOptions: BrowserContextOptions;
  private readonly leaseTtlMs: number;
  private readonly connectTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly keepConnectionMs: number;
  private readonly connections = new Map<string, Connection>();
  private readonly open = new Set<RemoteBrowserLease>();
  private versionChecked?: Promise<void>;
  private closed = false;

  constructor(options: PoolClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.token = options.token;
    this.logger = (options.logger ?? silentLogger).child({ component: 'pool-client' });
    this.contextOptions = { ...DEFAULT_CONTEXT_OPTIONS, ...options.contextOptions };
    this.leaseTtlMs = options.leaseTtlMs ?? 120_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 30_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.keepConnectionMs = options.keepConnectionMs ?? 30_000;
  }

  /**
   * Leases a new context on the least-loaded pool browser. Waits up to `timeoutMs` for room;
   * throws BROWSER_POOL_EXHAUSTED or SERVICE_UNAVAILABLE when none came,
   * BROWSER_VERSION_MISMATCH when the pool runs another playwright-core.
   */
  async lease(options: LeaseOptions = {}): Promise<BrowserLease> {
    if (this.closed) throw new RpaError('SERVICE_UNAVAILABLE', 'pool client is closed');
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    await this.checkVersion();
    const avoid = new Set(options.avoidBrowserIds ?? []);
    for (let gone = 0; ; gone += 1) {
      const grant = await this.requestLease([...avoid], deadline);
      try {
        return await this.openLease(grant);
      } catch (err) {
        await this.deleteLease(grant.leaseId);
        // A browser that turned out dead or hung: another of this pool's browsers, a few times
        // even past the deadline (which bounds waiting for room, not moving off a bad browser).
        if (!isBrowserGone(err) || (Date.now() >= deadline && gone >= MAX_GONE_RETRIES)) throw err;
        this.logger.warn({ browser_id: grant.browserId }, 'leased browser is gone; leasing another');
        avoid.add(grant.browserId);
      }
    }
  }

  /** Runs `fn` on a leased context and always releases it; browser deaths surface as BROWSER_GONE. */
  async withLease<T>(fn: (lease: BrowserLease) => Promise<T>, options?: LeaseOptions): Promise<T> {
    const lease = await this.lease(options);
    try {
      return await fn(lease);
    } catch (err) {
      throw lease.classify(err);
    } finally {
      await lease.release();
    }
  }

  /** GET /status of the pool. */
  async status(): Promise<PoolStatus> {
    return (await this.call('GET', '/status')).json() as Promise<PoolStatus>;
  }

  /** GET /browsers of the pool. */
  async browsers(): Promise<BrowserInfo[]> {
    const body = (await (await this.call('GET', '/browsers')).json()) as { browsers: BrowserInfo[] };
    return body.browsers;
  }

  /** Releases every open lease and closes every connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.open].map((lease) => lease.release()));
    const connections = [...this.connections.values()];
    this.connections.clear();
    await Promise.allSettled(
      connections.map(async (c) => {
        clearTimeout(c.idleTimer);
        await (await c.browser).close();
      }),
    );
  }

  private checkVersion(): Promise<void> {
    this.versionChecked ??= (async () => {
      const status = (await (await this.call('GET', '/status')).json()) as PoolStatus;
      assertSamePlaywrightVersion(status.playwrightVersion);
    })();
    // A network failure is worth another try next time; a version mismatch is not.
    this.versionChecked.catch((err: unknown) => {
      if (!(err instanceof RpaError && err.code === 'BROWSER_VERSION_MISMATCH')) this.versionChecked = undefined;
    });
    return this.versionChecked;
  }

  private async requestLease(avoidBrowserIds: string[], deadline: number): Promise<LeaseGrant> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        const res = await this.call('POST', '/leases', { ttlMs: this.leaseTtlMs, avoidBrowserIds });
        return (await res.json()) as LeaseGrant;
      } catch (err) {
        const wait = backoffMs(attempt + 1, { baseMs: 100, maxMs: 2_000 });
        if (!hasScope(err, 'batch') || Date.now() + wait >= deadline) throw err;
        await sleep(wait);
      }
    }
  }

  private async openLease(grant: LeaseGrant): Promise<RemoteBrowserLease> {
    const connection = this.connectionFor(grant);
    connection.leases += 1;
    clearTimeout(connection.idleTimer);
    try {
      const browser = await connection.browser;
      const creating = browser.newContext(this.contextOptions);
      const context = await withTimeout(creating, this.connectTimeoutMs, () => {
        // A context that arrives after we gave up would be an orphan: close it when it comes.
        creating.then((late) => late.close()).catch(() => undefined);
        // A browser that cannot make a context in time is as good as gone: lease another.
        return browserGoneError(grant.browserId, new Error(`no context within ${this.connectTimeoutMs} ms`));
      }).catch((err: unknown) => {
        if (isBrowserGone(err) || !browser.isConnected()) throw isRpaError(err) ? err : browserGoneError(grant.browserId, err);
        throw new RpaError('INTERNAL', 'could not create a browser context', { cause: scrubbedCause(err) });
      });
      const lease = new RemoteBrowserLease({
        leaseId: grant.leaseId,
        browserId: grant.browserId,
        browser,
        context,
        renewEveryMs: Math.max(1_000, Math.floor(this.leaseTtlMs / 3)),
        hooks: {
          renew: (leaseId) => this.renewLease(leaseId),
          finish: (l) => this.finishLease(l, grant.wsEndpoint),
          onRenewLost: (l) => this.logger.warn({ browser_id: l.browserId, lease_id: l.leaseId }, 'pool no longer knows this lease'),
        },
      });
      this.open.add(lease);
      this.logger.debug({ browser_id: grant.browserId, lease_id: grant.leaseId }, 'lease opened');
      return lease;
    } catch (err) {
      this.unref(grant.wsEndpoint);
      throw err;
    }
  }

  private connectionFor(grant: LeaseGrant): Connection {
    const existing = this.connections.get(grant.wsEndpoint);
    if (existing) return existing;
    const connection: Connection = {
      browserId: grant.browserId,
      leases: 0,
      // The pool's port proxies the browser and wants the pool token on the upgrade as well.
      browser: chromium.connect(grant.wsEndpoint, { timeout: this.connectTimeoutMs, headers: { authorization: `Bearer ${this.token}` } }).then(
        (browser) => {
          browser.on('disconnected', () => {
            if (this.connections.get(grant.wsEndpoint) === connection) this.connections.delete(grant.wsEndpoint);
          });
          return browser;
        },
        (err: unknown) => {
          if (this.connections.get(grant.wsEndpoint) === connection) this.connections.delete(grant.wsEndpoint);
          // Any failure to reach a leased browser means it is gone for us; the message is scrubbed
          // because Playwright's connect log repeats the endpoint and its secret path.
          throw browserGoneError(grant.browserId, err);
        },
      ),
    };
    this.connections.set(grant.wsEndpoint, connection);
    return connection;
  }

  private unref(wsEndpoint: string): void {
    const connection = this.connections.get(wsEndpoint);
    if (!connection) return;
    connection.leases = Math.max(0, connection.leases - 1);
    if (connection.leases > 0) return;
    const disconnect = () => {
      if (connection.leases > 0) return;
      if (this.connections.get(wsEndpoint) === connection) this.connections.delete(wsEndpoint);
      void connection.browser.then((b) => b.close()).catch(() => undefined);
    };
    if (this.keepConnectionMs <= 0 || this.closed) return disconnect();
    connection.idleTimer = setTimeout(disconnect, this.keepConnectionMs);
    connection.idleTimer.unref();
  }

  private async finishLease(lease: RemoteBrowserLease, wsEndpoint: string): Promise<void> {
    this.open.delete(lease);
    this.unref(wsEndpoint);
    await this.deleteLease(lease.leaseId);
    this.logger.debug({ browser_id: lease.browserId, lease_id: lease.leaseId }, 'lease released');
  }

  private async deleteLease(leaseId: string): Promise<void> {
    try {
      await this.call('DELETE', `/leases/${encodeURIComponent(leaseId)}`);
    } catch (err) {
      // The pool reclaims the lease when its TTL runs out; release must not fail the caller.
      this.logger.warn({ lease_id: leaseId, err }, 'could not end the lease on the pool; its TTL will reclaim it');
    }
  }

  private async renewLease(leaseId: string): Promise<boolean> {
    try {
      await this.call('POST', `/leases/${encodeURIComponent(leaseId)}/renew`, { ttlMs: this.leaseTtlMs });
      return true;
    } catch (err) {
      if (err instanceof RpaError && err.code === 'NOT_FOUND') return false;
      this.logger.debug({ lease_id: leaseId, err }, 'lease renewal failed; will retry');
      return true;
    }
  }

  /** One HTTP call to the pool; non-2xx answers become RpaErrors carrying the pool's code. */
  private async call(method: string, path: string, body?: unknown): Promise<Response> {
    const timeout = this.requestTimeoutMs;
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeout),
      });
    } catch (err) {
      throw new RpaError('SERVICE_UNAVAILABLE', `pool did not answer ${method} ${path}`, { cause: err });
    }
    if (res.ok) return res;
    const answer = (await res.json().catch(() => undefined)) as PoolErrorBody | undefined;
    const message = answer?.error?.message ?? `HTTP ${res.status}`;
    // The pool names its failure; a proxy in between may answer with a bare status.
    const code = isErrorCode(answer?.error?.code) ? answer.error.code : statusCode(res.status);
    throw new RpaError(code, `pool refused ${method} ${path}: ${message}`);
  }
}

function statusCode(status: number): ErrorCode {
  if (status === 401) return 'UNAUTHENTICATED';
  if (status === 404) return 'NOT_FOUND';
  if (status === 429) return 'BROWSER_POOL_EXHAUSTED';
  if (status === 400) return 'VALIDATION_FAILED';
  return status >= 500 ? 'SERVICE_UNAVAILABLE' : 'INTERNAL';
}
