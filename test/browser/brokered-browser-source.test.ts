import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { BrowserBroker } from '../../src/browser/browser-broker.js';
import { BrokeredBrowserSource } from '../../src/browser/brokered-browser-source.js';
import { PooledBrowserServiceManager, type BrowserPoolEndpoint, type BrowserServiceBackend } from '../../src/browser/browser-service-manager.js';
import { isRpaError } from '../../src/errors/failures.js';
import { testLogger } from '../support/shared-services.js';
import { startPageServer, startTestPool, waitFor, type TestPool } from './pool-fixture.js';

/** Services that already run: the backend hands out the given endpoints in turn and records what it stops. */
class FixedBackend implements BrowserServiceBackend {
  terminated: string[] = [];
  private next = 0;

  constructor(private readonly endpoints: Omit<BrowserPoolEndpoint, 'id'>[]) {}

  async cleanupOrphans(): Promise<string[]> {
    return [];
  }

  async provision(id: string): Promise<BrowserPoolEndpoint> {
    const endpoint = this.endpoints[this.next++ % this.endpoints.length]!;
    return { id, ...endpoint };
  }

  async isAlive(id: string): Promise<boolean> {
    return !this.terminated.includes(id);
  }

  async terminate(id: string): Promise<void> {
    this.terminated.push(id);
  }

  async close(): Promise<void> {}
}

describe('BrokeredBrowserSource: a batch process leases contexts on the services its worker brokers (real Chromium)', function () {
  this.timeout(120_000);
  let pool: TestPool;
  let pages: Awaited<ReturnType<typeof startPageServer>>;
  let manager: PooledBrowserServiceManager;
  let backend: FixedBackend;
  let broker: BrowserBroker;
  let source: BrokeredBrowserSource;

  before(async () => {
    pages = await startPageServer();
    pool = await startTestPool({ size: 2, maxContextsPerBrowser: 2 });
  });
  after(async () => {
    await pool?.close();
    await pages?.close();
  });

  async function startBroker(endpoints: Omit<BrowserPoolEndpoint, 'id'>[]): Promise<void> {
    backend = new FixedBackend(endpoints);
    manager = new PooledBrowserServiceManager({
      policy: { maxPools: 1, warmPools: 0, jobsPerPool: 10, idleTimeoutMs: 60_000 },
      backend,
      logger: testLogger,
      readyTimeoutMs: 5_000,
      reconcileIntervalMs: 0,
      idPrefix: 'svc',
    });
    await manager.start();
    broker = await new BrowserBroker({ manager, logger: testLogger }).start();
    source = new BrokeredBrowserSource({ brokerUrl: broker.url, brokerToken: broker.token, acquireTimeoutMs: 10_000, logger: testLogger });
  }

  afterEach(async () => {
    await source?.close();
    await broker?.close();
    await manager?.close();
    // Nothing a test opened may outlive it: no lease held, no context open in any browser.
    await pool.pool.check();
    expect(pool.pool.status().busyContexts, 'leases left held').to.equal(0);
    expect(pool.pool.status().openContexts, 'contexts left open').to.equal(0);
  });

  const leasesOnManager = () => manager.snapshot().reduce((sum, p) => sum + p.leases, 0);

  it('leases a working context through the broker and gives the service back on release (twice is safe)', async () => {
    await startBroker([{ url: pool.url, token: pool.token }]);
    const lease = await source.lease();
    const [service] = manager.endpoints();
    expect(lease.browserId.startsWith(`${service!.id}/`), lease.browserId).to.equal(true);
    expect(pool.pool.get(lease.browserId.slice(service!.id.length + 1))?.state).to.equal('ready');
    expect(broker.outstanding()).to.equal(1);
    expect(leasesOnManager()).to.equal(1);

    const page = await lease.context.newPage();
    await page.goto(`${pages.url}/brokered`, { timeout: 15_000 });
    expect(await page.locator('h1').textContent()).to.equal('hello from /brokered');
    expect(lease.isConnected()).to.equal(true);
    expect(lease.classify(new Error('Target page, context or browser has been closed'))).to.satisfy((e: unknown) => isRpaError(e, 'BROWSER_GONE'));

    await lease.release();
    await lease.release();
    expect(broker.outstanding()).to.equal(0);
    expect(leasesOnManager()).to.equal(0);
    expect(pool.pool.status().busyContexts).to.equal(0);
  });

  it('keeps off an avoided browser of the service it is given', async () => {
    await startBroker([{ url: pool.url, token: pool.token }]);
    const first = await source.lease();
    const second = await source.lease({ avoidBrowserIds: [first.browserId] });
    try {
      expect(second.browserId).not.to.equal(first.browserId);
      expect(broker.outstanding()).to.equal(2);
      // Both leases are on the one service: the manager counts two on it.
      expect(manager.snapshot()).to.have.length(1);
      expect(leasesOnManager()).to.equal(2);
    } finally {
      await Promise.all([first.release(), second.release()]);
    }
    expect(leasesOnManager()).to.equal(0);
  });

  it('close() releases the leases still open, and their grants', async () => {
    await startBroker([{ url: pool.url, token: pool.token }]);
    await source.lease();
    await source.lease();
    expect(broker.outstanding()).to.equal(2);
    await source.close();
    expect(broker.outstanding()).to.equal(0);
    expect(leasesOnManager()).to.equal(0);
    await waitFor('the pool to see the contexts closed', async () => {
      await pool.pool.check();
      return pool.pool.status().openContexts === 0;
    });
  });

  it('fails with UNAUTHENTICATED when its broker token is wrong, holding nothing', async () => {
    await startBroker([{ url: pool.url, token: pool.token }]);
    const wrong = new BrokeredBrowserSource({ brokerUrl: broker.url, brokerToken: 'not-the-broker-token-0123', acquireTimeoutMs: 5_000, logger: testLogger });
    const err = await wrong.lease().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isRpaError(err, 'UNAUTHENTICATED'), String(err)).to.equal(true);
    expect(broker.outstanding()).to.equal(0);
    expect(manager.snapshot()).to.deep.equal([]);
    await wrong.close();
  });

  it('gives back, and retires, a service that runs another playwright-core', async () => {
    // Another version cannot run here: a pool API that only answers GET /status stands in for it.
    const other: Server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(req.url === '/status' ? { playwrightVersion: '1.0.0' } : {}));
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    try {
      await startBroker([{ url: `http://127.0.0.1:${(other.address() as AddressInfo).port}`, token: 'other-pool-token-0123' }]);
      const err = await source.lease().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isRpaError(err, 'BROWSER_VERSION_MISMATCH'), String(err)).to.equal(true);
      expect(broker.outstanding()).to.equal(0);
      expect(backend.terminated).to.have.length(1);
      expect(manager.endpoints()).to.deep.equal([]);
    } finally {
      other.closeAllConnections();
      await new Promise<void>((r) => other.close(() => r()));
    }
  });
});
