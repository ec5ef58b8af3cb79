import type { BrowserContext } from 'playwright-core';
import { RpaError, isErrorCode, isRpaError } from '../errors/failures.js';
import { silentLogger, type Logger } from '../logger.js';
import type { EndpointGrant } from './browser-broker.js';
import type { BrowserLease } from './browser-lease.js';
import { BrowserPoolClient, type BrowserPoolClientOptions } from './browser-pool-client.js';
import type { BrowserSource } from './browser-source.js';

export interface BrokeredBrowserSourceOptions {
  /** The worker's broker (BROWSER_BROKER_URL) and its token (BROWSER_BROKER_TOKEN). */
  brokerUrl: string;
  brokerToken: string;
  /** How long `acquire` may wait for the manager to start a service (its ready timeout and some). */
  acquireTimeoutMs: number;
  logger?: Logger;
  /** Options of the pool clients, one per service (url and token come from the broker). */
  clientOptions?: Omit<BrowserPoolClientOptions, 'url' | 'token' | 'logger'>;
  /** How long a service's client (and its browser connections) is kept after its last lease (default 60 s). */
  keepClientMs?: number;
  /** Timeout of renew and release calls to the broker (default 10 s). */
  requestTimeoutMs?: number;
}

interface CachedClient {
  url: string;
  token: string;
  client: BrowserPoolClient;
  leases: number;
  idleTimer?: NodeJS.Timeout;
}

/**
 * Leases browser contexts from the browser services of the worker process that forked us: asks
 * the worker's broker for a service, leases a context on it through a `BrowserPoolClient`
 * (cached per service) and gives the service back when the lease is released. Lease ids are
 * qualified by service (`<service>/<browser>`), so `avoidBrowserIds` never confuses two pools'
 * browsers.
 */
export class BrokeredBrowserSource implements BrowserSource {
  private readonly clients = new Map<string, CachedClient>();
  private readonly open = new Set<BrokeredLease>();
  private readonly log: Logger;
  private readonly brokerUrl: string;
  private closed = false;

  constructor(private readonly o: BrokeredBrowserSourceOptions) {
    this.brokerUrl = o.brokerUrl.replace(/\/+$/, '');
    this.log = (o.logger ?? silentLogger).child({ component: 'brokered-browser-source' });
  }

  async lease(options: { avoidBrowserIds?: string[]; timeoutMs?: number } = {}): Promise<BrowserLease> {
    if (this.closed) throw new RpaError('SERVICE_UNAVAILABLE', 'browser source is closed');
    const grant = await this.acquire();
    const cached = this.clientFor(grant);
    cached.leases += 1;
    clearTimeout(cached.idleTimer);
    try {
      const prefix = `${grant.id}/`;
      const avoid = (options.avoidBrowserIds ?? []).filter((id) => id.startsWith(prefix)).map((id) => id.slice(prefix.length));
      const inner = await cached.client.lease({ avoidBrowserIds: avoid, timeoutMs: options.timeoutMs });
      const lease = new BrokeredLease(inner, grant, {
        renew: () => this.renew(grant),
        finish: async (l) => {
          this.open.delete(l);
          this.unref(grant.id, cached);
          await this.release(grant, false);
        },
      });
      this.open.add(lease);
      return lease;
    } catch (err) {
      this.unref(grant.id, cached);
      // A pool of another playwright-core is of no use to anyone: have the manager stop it.
      await this.release(grant, isRpaError(err, 'BROWSER_VERSION_MISMATCH'));
      throw err;
    }
  }

  /** Releases every open lease (and so its grant), then closes every pool client. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.open].map((l) => l.release()));
    const clients = [...this.clients.values()];
    this.clients.clear();
    await Promise.allSettled(
      clients.map((c) => {
        clearTimeout(c.idleTimer);
        return c.client.close();
      }),
    );
  }

  private clientFor(grant: EndpointGrant): CachedClient {
    const token = grant.token ?? '';
    const existing = this.clients.get(grant.id);
    if (existing && existing.url === grant.url && existing.token === token) return existing;
    // Same service id, new address (cannot happen today: ids are not reused); drop the stale client once idle.
    if (existing && existing.leases === 0) void this.drop(grant.id, existing);
    const cached: CachedClient = {
      url: grant.url,
      token,
      client: new BrowserPoolClient({ ...this.o.clientOptions, url: grant.url, token, logger: this.log.child({ browser_service: grant.id }) }),
      leases: 0,
    };
    this.clients.set(grant.id, cached);
    return cached;
  }

  /** One lease fewer on a service's client; closes the client after `keepClientMs` without one. */
  private unref(id: string, cached: CachedClient): void {
    cached.leases = Math.max(0, cached.leases - 1);
    if (cached.leases > 0) return;
    clearTimeout(cached.idleTimer);
    cached.idleTimer = setTimeout(() => void this.drop(id, cached), this.o.keepClientMs ?? 60_000);
    cached.idleTimer.unref();
  }

  private async drop(id: string, cached: CachedClient): Promise<void> {
    if (cached.leases > 0) return;
    if (this.clients.get(id) === cached) this.clients.delete(id);
    await cached.client.close().catch(() => undefined);
  }

  private async acquire(): Promise<EndpointGrant> {
    const res = await this.call('/acquire', {}, this.o.acquireTimeoutMs);
    return (await res.json()) as EndpointGrant;
  }

  /** False when the broker no longer knows the grant. */
  private async renew(grant: EndpointGrant): Promise<boolean> {
    try {
      await this.call('/renew', { grantId: grant.grantId });
      return true;
    } catch (err) {
      if (isRpaError(err, 'NOT_FOUND')) {
        this.log.warn({ browser_service: grant.id }, 'the broker no longer knows this grant; the service may be stopped as idle');
        return false;
      }
      this.log.debug({ browser_service: grant.id, err }, 'grant renewal failed; will retry');
      return true;
    }
  }

  private async release(grant: EndpointGrant, retire: boolean): Promise<void> {
    try {
      await this.call('/release', { grantId: grant.grantId, retire });
    } catch (err) {
      // The broker expires the grant when its TTL runs out; release must not fail the caller.
      this.log.warn({ browser_service: grant.id, err }, 'could not give the browser service back; the grant will expire');
    }
  }

  /** One POST to the broker; non-2xx answers become RpaErrors carrying the broker's code. */
  private async call(path: string, body: unknown, timeoutMs = this.o.requestTimeoutMs ?? 10_000): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${this.brokerUrl}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.o.brokerToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new RpaError('SERVICE_UNAVAILABLE', `browser broker did not answer POST ${path}`, { cause: err });
    }
    if (res.ok) return res;
    const answer = (await res.json().catch(() => undefined)) as { error?: { code?: unknown; message?: string } } | undefined;
    const code = isErrorCode(answer?.error?.code) ? answer.error.code : res.status === 404 ? 'NOT_FOUND' : res.status >= 500 ? 'SERVICE_UNAVAILABLE' : 'INTERNAL';
    throw new RpaError(code, `browser broker refused POST ${path}: ${answer?.error?.message ?? `HTTP ${res.status}`}`);
  }
}

interface BrokeredLeaseHooks {
  renew(): Promise<boolean>;
  finish(lease: BrokeredLease): Promise<void>;
}

/** A pool lease plus the grant of the service it is on; releasing it releases both. */
class BrokeredLease implements BrowserLease {
  readonly leaseId: string;
  readonly browserId: string;
  readonly context: BrowserContext;
  private readonly renewTimer: NodeJS.Timeout;
  private released?: Promise<void>;

  constructor(
    private readonly inner: BrowserLease,
    grant: EndpointGrant,
    private readonly hooks: BrokeredLeaseHooks,
  ) {
    this.leaseId = inner.leaseId;
    this.browserId = `${grant.id}/${inner.browserId}`;
    this.context = inner.context;
    this.renewTimer = setInterval(() => void this.renew(), Math.max(1_000, Math.floor(grant.ttlMs / 3)));
    this.renewTimer.unref();
  }

  isConnected(): boolean {
    return this.inner.isConnected();
  }

  assertAlive(): void {
    this.inner.assertAlive();
  }

  classify(err: unknown): unknown {
    return this.inner.classify(err);
  }

  release(): Promise<void> {
    this.released ??= (async () => {
      clearInterval(this.renewTimer);
      await this.inner.release();
      await this.hooks.finish(this);
    })();
    return this.released;
  }

  private async renew(): Promise<void> {
    if (this.released) return;
    if (!(await this.hooks.renew()) && !this.released) clearInterval(this.renewTimer);
  }
}
