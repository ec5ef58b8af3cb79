import { setTimeout as sleep } from 'node:timers/promises';
import type { BrowserContext } from 'playwright-core';
import { backoffMs } from '../../errors/backoff.js';
import { RpaError, isRpaError } from '../../errors/failures.js';
import { silentLogger, type Logger } from '../../logger.js';
import type { BrowserSource } from '../browser-source.js';
import { withTimeout } from '../../infra/with-timeout.js';
import type { BrowserLease } from './browser-lease.js';
import { PoolClient, type PoolClientOptions } from './pool-client.js';
import type { LeasablePool, PoolList } from './pool-list.js';

export interface PoolLeaseSourceOptions {
  /** The pools to lease from: the directory, or the one fixed pool. */
  pools: PoolList;
  /**
   * How long `lease()` keeps looking for a pool with room, re-reading the list: long enough for
   * the fleet to start a pool when none runs (its ready timeout and some).
   */
  leaseTimeoutMs: number;
  logger?: Logger;
  /** Options of the clients, one per pool (url and token come from the list). */
  clientOptions?: Omit<PoolClientOptions, 'url' | 'token' | 'logger'>;
  /** How long a pool's client (and its browser connections) is kept after its last lease (default 60 s). */
  keepClientMs?: number;
  /** How long a pool that refused us for good (wrong token, other Playwright) is left out (default 60 s). */
  shunMs?: number;
}

interface CachedClient {
  pool: LeasablePool;
  client: PoolClient;
  leases: number;
  idleTimer?: NodeJS.Timeout;
}

/** Longest wait for the list of pools (one Valkey read). */
const LIST_TIMEOUT_MS = 5_000;

/** Failures after which a pool is left alone for a while: asking it again answers the same. */
const FINAL_REFUSALS = new Set(['UNAUTHENTICATED', 'BROWSER_VERSION_MISMATCH', 'NOT_FOUND', 'VALIDATION_FAILED']);

/**
 * The one way a batch gets a browser context: from the pools of a `PoolList`, the one with the
 * most room first, through that pool's own lease protocol (POST /leases, renew, DELETE) with one
 * cached `PoolClient` per pool. A full or unreachable pool passes the turn to the next; with no
 * pool left it waits (backoff) and reads the list again, until `leaseTimeoutMs`. Lease ids are
 * qualified by pool (`<pool>/<browser>`), so `avoidBrowserIds` never confuses two pools' browsers.
 */
export class PoolLeaseSource implements BrowserSource {
  private readonly clients = new Map<string, CachedClient>();
  private readonly open = new Set<PoolBoundLease>();
  private readonly shunned = new Map<string, number>();
  private readonly log: Logger;
  private closed = false;

  constructor(private readonly o: PoolLeaseSourceOptions) {
    this.log = (o.logger ?? silentLogger).child({ component: 'pool-lease-source' });
  }

  async lease(options: { avoidBrowserIds?: string[] } = {}): Promise<BrowserLease> {
    const deadline = Date.now() + this.o.leaseTimeoutMs;
    const avoid = options.avoidBrowserIds ?? [];
    let last: unknown;
    let unreadable: RpaError | undefined;
    for (let round = 1; ; round += 1) {
      if (this.closed) throw new RpaError('SERVICE_UNAVAILABLE', 'browser source is closed');
      let pools: LeasablePool[] = [];
      try {
        pools = await this.candidates(avoid);
        unreadable = undefined;
      } catch (err) {
        unreadable = new RpaError('SERVICE_UNAVAILABLE', 'the list of pools could not be read', { cause: err });
      }
      for (const pool of pools) {
        try {
          return await this.leaseFrom(pool, avoid);
        } catch (err) {
          last = err;
          if (isRpaError(err) && FINAL_REFUSALS.has(err.code)) {
            this.shunned.set(pool.id, Date.now() + (this.o.shunMs ?? 60_000));
            this.log.warn({ pool_id: pool.id, code: err.code }, 'pool refused this source; leaving it out for a while');
          } else if (!isRpaError(err) || !['batch', 'browser'].includes(err.scope)) {
            throw err;
          }
        }
      }
      const wait = backoffMs(round, { baseMs: 250, maxMs: 2_000 });
      if (Date.now() + wait >= deadline) break;
      await sleep(wait);
    }
    // An unreadable list, or a pool that refused for good, says more than "no room".
    if (unreadable) throw unreadable;
    if (isRpaError(last) && FINAL_REFUSALS.has(last.code)) throw last;
    throw new RpaError('BROWSER_POOL_EXHAUSTED', `no pool had room for a lease within ${this.o.leaseTimeoutMs} ms`, { cause: last });
  }

  /** Releases every open lease, then closes every pool client. */
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

  /** Pools to try, in order: not shunned; pools holding no avoided browser first; then most room. */
  private async candidates(avoid: string[]): Promise<LeasablePool[]> {
    const now = Date.now();
    const avoidedPools = new Set(avoid.map((id) => id.slice(0, id.indexOf('/'))));
    // Valkey away must not hang a batch: the list is read again next round.
    const listed = await withTimeout(this.o.pools.pools(), LIST_TIMEOUT_MS, () => new Error(`no list of pools within ${LIST_TIMEOUT_MS} ms`));
    const pools = listed.filter((p) => (this.shunned.get(p.id) ?? 0) <= now);
    return pools.sort(
      (a, b) => Number(avoidedPools.has(a.id)) - Number(avoidedPools.has(b.id)) || b.freeSlots - a.freeSlots || a.id.localeCompare(b.id),
    );
  }

  private async leaseFrom(pool: LeasablePool, avoid: string[]): Promise<BrowserLease> {
    const cached = this.clientFor(pool);
    cached.leases += 1;
    clearTimeout(cached.idleTimer);
    try {
      const prefix = `${pool.id}/`;
      const inner = await cached.client.lease({
        avoidBrowserIds: avoid.filter((id) => id.startsWith(prefix)).map((id) => id.slice(prefix.length)),
        // Ask once: a full pool passes the turn to the next one.
        timeoutMs: 0,
      });
      const lease = new PoolBoundLease(inner, pool.id, async (l) => {
        this.open.delete(l);
        this.unref(pool.id, cached);
      });
      this.open.add(lease);
      return lease;
    } catch (err) {
      this.unref(pool.id, cached);
      throw err;
    }
  }

  private clientFor(pool: LeasablePool): CachedClient {
    const existing = this.clients.get(pool.id);
    if (existing && existing.pool.url === pool.url && existing.pool.token === pool.token) return existing;
    // Same id, new address or token: drop the old client once nothing uses it.
    if (existing && existing.leases === 0) void this.drop(pool.id, existing);
    const cached: CachedClient = {
      pool,
      client: new PoolClient({ ...this.o.clientOptions, url: pool.url, token: pool.token, logger: this.log.child({ pool_id: pool.id }) }),
      leases: 0,
    };
    this.clients.set(pool.id, cached);
    return cached;
  }

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
}

/** A pool's lease whose browser id names the pool too; releasing it lets go of the pool's client. */
class PoolBoundLease implements BrowserLease {
  readonly leaseId: string;
  readonly browserId: string;
  readonly context: BrowserContext;
  private released?: Promise<void>;

  constructor(
    private readonly inner: BrowserLease,
    poolId: string,
    private readonly finish: (lease: PoolBoundLease) => Promise<void>,
  ) {
    this.leaseId = inner.leaseId;
    this.browserId = `${poolId}/${inner.browserId}`;
    this.context = inner.context;
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
      await this.inner.release();
      await this.finish(this);
    })();
    return this.released;
  }
}
