import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import type { Redis } from 'iovalkey';
import { PoolDirectory } from '../../../src/browser/client/pool-directory.js';
import { PoolLeaseSource } from '../../../src/browser/client/pool-lease-source.js';
import { directoryPools, fixedPool } from '../../../src/browser/client/pool-list.js';
import { isRpaError } from '../../../src/errors/failures.js';
import { freePort } from '../../../src/infra/free-port.js';
import { createValkey } from '../../../src/queues/valkey.js';
import { sharedValkey, testLogger, uniquePrefix } from '../../support/shared-services.js';
import { startPageServer, startTestPool, waitFor, type TestPool } from '../pool-fixture.js';

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

/**
 * The one way a batch gets a context (replaces the broker and the brokered source): the pools in
 * the directory, most room first, each through its own POST /leases. Two real pools with real
 * Chromium, a real Valkey directory.
 */
describe('PoolLeaseSource: a batch leases from the pools in the directory (real Chromium, real Valkey)', function () {
  this.timeout(120_000);
  let pages: Awaited<ReturnType<typeof startPageServer>>;
  let a: TestPool;
  let b: TestPool;
  let redis: Redis;
  let directory: PoolDirectory;
  const sources: PoolLeaseSource[] = [];

  before(async () => {
    pages = await startPageServer();
    [a, b] = await Promise.all([startTestPool({ size: 1, maxContextsPerBrowser: 2 }), startTestPool({ size: 2, maxContextsPerBrowser: 1 })]);
    redis = createValkey((await sharedValkey()).url, 'worker');
  });
  after(async () => {
    await Promise.allSettled([a?.close(), b?.close(), pages?.close()]);
    redis?.disconnect();
  });
  beforeEach(() => {
    directory = new PoolDirectory({ redis, prefix: uniquePrefix('lease-source') });
  });
  afterEach(async () => {
    await Promise.all(sources.splice(0).map((s) => s.close()));
    await redis.del(directory.key);
    // Nothing a test opened may outlive it: no lease held, no context open in any browser.
    for (const pool of [a, b]) {
      await pool.pool.check();
      expect(pool.pool.status().busyContexts, 'leases left held').to.equal(0);
      expect(pool.pool.status().openContexts, 'contexts left open').to.equal(0);
    }
  });

  const tokens = () => ({ 'pool-a': a.token, 'pool-b': b.token });
  const register = (id: 'a' | 'b', freeSlots: number, url?: string) =>
    directory.register({ id: `pool-${id}`, url: url ?? (id === 'a' ? a : b).url, tokenId: `pool-${id}`, freeSlots, busyContexts: 0, registeredBy: 'test' }, 60_000);
  const source = (leaseTimeoutMs = 10_000, poolTokens: Record<string, string> = tokens()) => {
    const s = new PoolLeaseSource({ pools: directoryPools(directory, poolTokens), leaseTimeoutMs, logger: testLogger });
    sources.push(s);
    return s;
  };

  it('leases a working context from the pool with the most room, and release (twice) ends the lease on that pool', async () => {
    await register('a', 1);
    await register('b', 2);
    const lease = await source().lease();
    expect(lease.browserId.startsWith('pool-b/'), lease.browserId).to.equal(true);
    expect(b.pool.status().busyContexts).to.equal(1);
    const page = await lease.context.newPage();
    await page.goto(`${pages.url}/directory`, { timeout: 15_000 });
    expect(await page.locator('h1').textContent()).to.equal('hello from /directory');
    expect(lease.classify(new Error('Target page, context or browser has been closed'))).to.satisfy((e: unknown) => isRpaError(e, 'BROWSER_GONE'));
    await lease.release();
    await lease.release();
    expect(b.pool.status().busyContexts).to.equal(0);
  });

  it('keeps off an avoided browser: the next lease goes to a pool without it', async () => {
    await register('a', 5);
    await register('b', 5);
    const s = source();
    const first = await s.lease();
    const second = await s.lease({ avoidBrowserIds: [first.browserId] });
    try {
      expect(second.browserId.split('/')[0]).not.to.equal(first.browserId.split('/')[0]);
    } finally {
      await Promise.all([first.release(), second.release()]);
    }
  });

  it('passes the turn to the next pool when the one with the most room (as last reported) is full', async () => {
    await register('b', 10); // stale: b's two browsers hold one lease each at most
    await register('a', 1);
    const s = source();
    const held = [await s.lease(), await s.lease()];
    expect(held.every((l) => l.browserId.startsWith('pool-b/'))).to.equal(true);
    const third = await s.lease();
    held.push(third);
    expect(third.browserId.startsWith('pool-a/'), third.browserId).to.equal(true);
    await Promise.all(held.map((l) => l.release()));
  });

  it('waits for a pool to appear (the fleet starting one), and gives up with BROWSER_POOL_EXHAUSTED when none has room in time', async () => {
    const waiting = source(20_000).lease();
    await new Promise((r) => setTimeout(r, 700));
    await register('a', 2);
    const lease = await waiting;
    expect(lease.browserId.startsWith('pool-a/')).to.equal(true);
    await lease.release();

    await redis.del(directory.key);
    const err = await rejection(source(800).lease());
    expect(isRpaError(err, 'BROWSER_POOL_EXHAUSTED'), String(err)).to.equal(true);
    expect((err as { retryable: boolean }).retryable).to.equal(true);
  });

  it('close() releases the leases still open', async () => {
    await register('a', 2);
    const s = source();
    await s.lease();
    await s.lease();
    expect(a.pool.status().busyContexts).to.equal(2);
    await s.close();
    expect(a.pool.status().busyContexts).to.equal(0);
    await waitFor('the pool to see the contexts closed', async () => {
      await a.pool.check();
      return a.pool.status().openContexts === 0;
    });
  });

  it('leaves out pools it holds no token for; with a wrong token it fails UNAUTHENTICATED and holds nothing', async () => {
    await register('a', 2);
    const granted = a.pool.status().leasesGranted;
    const none = await rejection(source(600, { 'pool-b': b.token }).lease());
    expect(isRpaError(none, 'BROWSER_POOL_EXHAUSTED'), String(none)).to.equal(true);
    const wrong = await rejection(source(600, { 'pool-a': 'not-the-token-of-pool-a' }).lease());
    expect(isRpaError(wrong, 'UNAUTHENTICATED'), String(wrong)).to.equal(true);
    expect(a.pool.status().leasesGranted).to.equal(granted);
  });

  it('moves past a pool that does not answer and one that runs another playwright-core', async () => {
    // Another version cannot run here: a pool API that only answers GET /status stands in for it.
    const other: Server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(req.url === '/status' ? { playwrightVersion: '1.0.0' } : {}));
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    try {
      const gone = `http://127.0.0.1:${await freePort()}`;
      await directory.register({ id: 'pool-gone', url: gone, tokenId: 'pool-a', freeSlots: 50, busyContexts: 0, registeredBy: 'test' }, 60_000);
      await directory.register({ id: 'pool-old', url: `http://127.0.0.1:${(other.address() as AddressInfo).port}`, tokenId: 'pool-a', freeSlots: 40, busyContexts: 0, registeredBy: 'test' }, 60_000);
      await register('a', 1);
      const lease = await source().lease();
      expect(lease.browserId.startsWith('pool-a/'), lease.browserId).to.equal(true);
      await lease.release();

      await directory.remove('pool-a');
      await directory.remove('pool-gone');
      const err = await rejection(source(600).lease());
      expect(isRpaError(err, 'BROWSER_VERSION_MISMATCH'), String(err)).to.equal(true);
    } finally {
      other.closeAllConnections();
      await new Promise<void>((r) => other.close(() => r()));
    }
  });

  it('a fixed pool (BROWSER_POOL_URL) is a list of one, leased the same way', async () => {
    const s = new PoolLeaseSource({ pools: fixedPool(a.url, a.token), leaseTimeoutMs: 5_000, logger: testLogger });
    sources.push(s);
    const lease = await s.lease();
    expect(lease.browserId.startsWith('fixed/')).to.equal(true);
    await (await lease.context.newPage()).goto(`${pages.url}/fixed`, { timeout: 15_000 });
    await lease.release();
  });
});
