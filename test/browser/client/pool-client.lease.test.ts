import { expect } from 'chai';
import { PoolClient } from '../../../src/browser/client/pool-client.js';
import { isRpaError } from '../../../src/errors/failures.js';
import { startPageServer, startTestPool, waitFor, type TestPool } from '../pool-fixture.js';

describe('PoolClient leases (real Chromium)', function () {
  let pool: TestPool;
  let pages: Awaited<ReturnType<typeof startPageServer>>;
  let client: PoolClient;

  before(async function () {
    pages = await startPageServer();
    pool = await startTestPool({ size: 2, maxContextsPerBrowser: 2 });
  });
  after(async function () {
    await pool?.close();
    await pages?.close();
  });
  beforeEach(function () {
    client = new PoolClient({ url: pool.url, token: pool.token });
  });
  afterEach(async function () {
    await client.close();
    // Nothing a test opened may outlive it: no lease held, no context open in any browser.
    await pool.pool.check();
    const status = pool.pool.status();
    expect(status.busyContexts, 'leases left held').to.equal(0);
    expect(status.openContexts, 'contexts left open').to.equal(0);
  });

  it('leases a context that loads a local page, with the fixed viewport, locale, time zone and user agent', async function () {
    const lease = await client.lease();
    try {
      expect(lease.leaseId).to.be.a('string');
      expect(pool.pool.get(lease.browserId)?.state).to.equal('ready');
      const page = await lease.context.newPage();
      await page.goto(`${pages.url}/lease`, { timeout: 15_000 });
      expect(await page.locator('h1').textContent()).to.equal('hello from /lease');
      const seen = await page.evaluate(() => ({
        width: window.innerWidth,
        height: window.innerHeight,
        language: navigator.language,
        timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
        userAgent: navigator.userAgent,
      }));
      expect(seen).to.deep.equal({
        width: 1366,
        height: 768,
        language: 'en-ZA',
        timeZone: 'Africa/Johannesburg',
        userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
      });
      await pool.pool.check();
      expect(pool.pool.get(lease.browserId)?.info()).to.include({ leases: 1, contexts: 1, contextsCreated: 1 });
    } finally {
      await lease.release();
    }
  });

  it('every lease is a fresh context: cookies and storage of an earlier lease are not visible', async function () {
    await client.withLease(async (lease) => {
      const page = await lease.context.newPage();
      await page.goto(`${pages.url}/first`, { timeout: 15_000 });
      await page.evaluate(() => {
        document.cookie = 'session=first-lease';
        localStorage.setItem('mark', 'first-lease');
      });
      expect(await lease.context.cookies()).to.have.length(1);
    });
    for (let i = 0; i < 2; i += 1) {
      await client.withLease(async (lease) => {
        const page = await lease.context.newPage();
        await page.goto(`${pages.url}/later`, { timeout: 15_000 });
        expect(await page.evaluate(() => [document.cookie, localStorage.getItem('mark')])).to.deep.equal(['', null]);
      });
    }
  });

  it('release closes the context and ends the lease; the pool counts 0 contexts again', async function () {
    const lease = await client.lease();
    await (await lease.context.newPage()).goto(`${pages.url}/release`, { timeout: 15_000 });
    await lease.release();
    expect(lease.isConnected()).to.equal(false);
    await pool.pool.check();
    const browser = (await client.browsers()).find((b) => b.id === lease.browserId);
    expect(browser).to.include({ leases: 0, contexts: 0 });
  });

  it('release twice is safe and ends the lease once', async function () {
    const granted = pool.pool.status().leasesGranted;
    const lease = await client.lease();
    await Promise.all([lease.release(), lease.release()]);
    await lease.release();
    const status = await client.status();
    expect(status.leasesGranted).to.equal(granted + 1);
    expect(status.busyContexts).to.equal(0);
  });

  it('withLease closes the context even when the callback throws, and passes the error through', async function () {
    let held: { isConnected(): boolean; browserId: string } | undefined;
    const failure = new Error('portal said no');
    const thrown = await client
      .withLease(async (lease) => {
        held = lease;
        await (await lease.context.newPage()).goto(`${pages.url}/throws`, { timeout: 15_000 });
        throw failure;
      })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(thrown).to.equal(failure);
    expect(held?.isConnected()).to.equal(false);
    await pool.pool.check();
    expect(pool.pool.get(held!.browserId)?.info()).to.include({ leases: 0, contexts: 0 });
  });

  it('spreads leases over the least-loaded browsers', async function () {
    const first = await client.lease();
    const second = await client.lease();
    try {
      expect(first.browserId).to.not.equal(second.browserId);
    } finally {
      await Promise.all([first.release(), second.release()]);
    }
  });

  it('enforces maxContextsPerBrowser: a full pool answers 429 and the client reports BROWSER_POOL_EXHAUSTED', async function () {
    const held = await Promise.all([client.lease(), client.lease(), client.lease(), client.lease()]);
    try {
      const perBrowser = (await client.browsers()).map((b) => b.leases);
      expect(perBrowser).to.deep.equal([2, 2]);
      const raw = await fetch(`${pool.url}/leases`, { method: 'POST', headers: { authorization: `Bearer ${pool.token}` } });
      expect(raw.status).to.equal(429);
      expect(((await raw.json()) as { error: { code: string; retryable: boolean } }).error).to.include({ code: 'BROWSER_POOL_EXHAUSTED', retryable: true });
      const err = await client.lease({ timeoutMs: 400 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isRpaError(err, 'BROWSER_POOL_EXHAUSTED'), String(err)).to.equal(true);
      expect((err as { retryable: boolean }).retryable).to.equal(true);
      expect(await (await fetch(`${pool.url}/health/ready`)).json()).to.include({ status: 'not ready' });
      // A slot freed while a client waits is taken by that client.
      const waiting = client.lease({ timeoutMs: 10_000 });
      await held.pop()!.release();
      held.push(await waiting);
    } finally {
      await Promise.all(held.map((l) => l.release()));
    }
  });

  it('warm pool: leases reuse the launched browsers instead of launching new ones', async function () {
    const before = new Set((await client.browsers()).map((b) => b.id));
    for (let i = 0; i < 3; i += 1) {
      await client.withLease(async (lease) => {
        expect(before.has(lease.browserId)).to.equal(true);
        await (await lease.context.newPage()).goto(`${pages.url}/warm${i}`, { timeout: 15_000 });
      });
    }
    const after = await client.status();
    expect(after.restarts).to.equal(0);
    expect((await client.browsers()).map((b) => b.id).sort()).to.deep.equal([...before].sort());
    await waitFor('no lease held', async () => (await client.status()).busyContexts === 0);
  });
});
