import { Writable } from 'node:stream';
import { expect } from 'chai';
import { PoolClient } from '../../../src/browser/client/pool-client.js';
import { isRpaError, type RpaError } from '../../../src/errors/failures.js';
import { createLogger } from '../../../src/logger.js';
import { startPageServer, startTestPool, waitFor, type TestPool } from '../pool-fixture.js';

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

describe('BrowserPool health: retirement, crashes, lease TTL (real Chromium)', function () {
  let pages: Awaited<ReturnType<typeof startPageServer>>;
  let pool: TestPool | undefined;
  let client: PoolClient | undefined;

  before(async function () {
    pages = await startPageServer();
  });
  after(async function () {
    await pages?.close();
  });
  afterEach(async function () {
    await client?.close();
    await pool?.close();
    client = undefined;
    pool = undefined;
  });

  it('retires a browser after retireAfterContexts leases, closes it when its last lease ends, and launches a replacement', async function () {
    pool = await startTestPool({ size: 1, retireAfterContexts: 2 });
    client = new PoolClient({ url: pool.url, token: pool.token });
    const first = await client.lease();
    const original = first.browserId;
    await first.release();
    const second = await client.lease();
    expect(second.browserId).to.equal(original);
    // The second lease reached the limit: retiring, but still serving the lease it holds.
    expect(pool.pool.get(original)?.info()).to.include({ state: 'retiring', retireReason: 'contexts', leases: 1 });
    await waitFor('a replacement browser ready', () => pool!.pool.list().some((b) => b.id !== original && b.state === 'ready'));
    await (await second.context.newPage()).goto(`${pages.url}/retiring`, { timeout: 15_000 });
    const third = await client.lease();
    expect(third.browserId, 'a retiring browser takes no new lease').to.not.equal(original);
    const oldPid = pool.pool.get(original)!.pid!;
    await second.release();
    await waitFor('the retired browser closed', () => pool!.pool.get(original) === undefined);
    expect(() => process.kill(oldPid, 0), 'retired Chromium process gone').to.throw();
    await third.release();
    expect(pool.pool.status()).to.include({ retired: 1, restarts: 0, size: 1 });
    expect(pool.pool.status().browsers).to.include({ ready: 1, retiring: 0 });
  });

  it('retires a browser whose process tree uses more than maxMemoryMb (RSS from /proc)', async function () {
    pool = await startTestPool({ size: 1, maxMemoryMb: 1, pool: { healthIntervalMs: 3_600_000 } });
    const [only] = pool.pool.list();
    await pool.pool.check();
    const info = pool.pool.get(only!.id)?.info();
    // Already closed (no lease held) or still closing: either way it retired for memory.
    if (info) expect(info).to.include({ state: 'retiring', retireReason: 'memory' });
    expect(pool.pool.status().retired).to.equal(1);
    expect(only!.memoryMb, 'a real Chromium tree uses more than 1 MiB').to.be.greaterThan(1);
    await waitFor('a replacement browser ready', () => pool!.pool.list().some((b) => b.id !== only!.id && b.state === 'ready'));
  });

  it('a browser killed mid-job surfaces as BROWSER_GONE, is relaunched, and a new lease on another browser works', async function () {
    const lines: string[] = [];
    const logger = createLogger({
      level: 'debug',
      destination: new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    });
    pool = await startTestPool({ size: 2, pool: { healthIntervalMs: 200 } }, logger);
    client = new PoolClient({ url: pool.url, token: pool.token, logger });
    const wsPaths = pool.pool.list().map((b) => pool!.pool.get(b.id)!.endpointPath());

    let victim = '';
    const err = await rejection(
      client.withLease(async (lease) => {
        victim = lease.browserId;
        const page = await lease.context.newPage();
        await page.goto(`${pages.url}/before-crash`, { timeout: 15_000 });
        process.kill(pool!.pool.get(victim)!.pid!, 'SIGKILL');
        await waitFor('the client to see the disconnect', () => !lease.isConnected(), 15_000);
        const assertErr = (() => {
          try {
            lease.assertAlive();
            return undefined;
          } catch (e) {
            return e;
          }
        })();
        expect(isRpaError(assertErr, 'BROWSER_GONE'), String(assertErr)).to.equal(true);
        await page.goto(`${pages.url}/after-crash`, { timeout: 15_000 });
      }),
    );
    expect(isRpaError(err, 'BROWSER_GONE'), String(err)).to.equal(true);
    expect((err as RpaError).retryable).to.equal(true);
    expect((err as RpaError).details).to.deep.equal({ browserId: victim });

    await waitFor('the pool to notice the crash and relaunch', () => {
      const s = pool!.pool.status();
      return s.restarts === 1 && s.browsers.ready === 2;
    });
    expect(pool.pool.get(victim)?.state).to.equal('dead');

    const next = await client.lease({ avoidBrowserIds: [victim] });
    try {
      expect(next.browserId).to.not.equal(victim);
      const page = await next.context.newPage();
      await page.goto(`${pages.url}/after-relaunch`, { timeout: 15_000 });
      expect(await page.locator('h1').textContent()).to.equal('hello from /after-relaunch');
    } finally {
      await next.release();
    }
    expect(lines.some((l) => l.includes('browser exited unexpectedly'))).to.equal(true);
    expect(String(err)).to.not.match(/ws:\/\//);
    for (const path of wsPaths) {
      expect(lines.filter((l) => l.includes(path)), 'a log line carries a ws endpoint secret').to.deep.equal([]);
      expect(JSON.stringify({ message: (err as Error).message, cause: String((err as Error).cause) })).to.not.include(path);
    }
  });

  it('a hung browser (SIGSTOP): the lease that landed on it moves to another browser, and the pool kills and relaunches it', async function () {
    pool = await startTestPool({ size: 2, maxContextsPerBrowser: 2, pool: { healthIntervalMs: 1_000, probeTimeoutMs: 1_000 } });
    client = new PoolClient({ url: pool.url, token: pool.token, connectTimeoutMs: 2_000 });
    const busy = await client.lease();
    const hung = pool.pool.list().find((b) => b.id !== busy.browserId)!;
    process.kill(hung.pid!, 'SIGSTOP');
    try {
      // The hung browser has fewer leases, so the pool grants it first; the client gives up on
      // it (no context in time, or the pool killed it meanwhile) and leases the other one.
      const moved = await client.lease({ timeoutMs: 20_000 });
      try {
        expect(moved.browserId).to.equal(busy.browserId);
        expect(pool.pool.status().leasesGranted, 'busy, the attempt on the hung browser, the moved lease').to.equal(3);
        await (await moved.context.newPage()).goto(`${pages.url}/moved`, { timeout: 15_000 });
      } finally {
        await moved.release();
      }
      await waitFor('the pool to kill the hung browser and relaunch', () => {
        const s = pool!.pool.status();
        return s.restarts === 1 && s.browsers.ready === 2;
      });
      expect(pool.pool.get(hung.id)?.state).to.equal('dead');
    } finally {
      try {
        process.kill(hung.pid!, 'SIGCONT');
      } catch {
        // Already killed by the pool.
      }
      await busy.release();
    }
  });

  it('reclaims a lease whose client never released nor renewed it once its TTL runs out', async function () {
    pool = await startTestPool({ size: 1, pool: { healthIntervalMs: 100 } });
    const auth = { authorization: `Bearer ${pool.token}`, 'content-type': 'application/json' };
    const res = await fetch(`${pool.url}/leases`, { method: 'POST', headers: auth, body: JSON.stringify({ ttlMs: 1_000 }) });
    expect(res.status).to.equal(200);
    const grant = (await res.json()) as { leaseId: string; browserId: string; wsEndpoint: string; expiresAt: string };
    expect(new URL(grant.wsEndpoint).pathname.length, 'an unguessable ws path').to.be.greaterThan(30);
    expect(Date.parse(grant.expiresAt) - Date.now()).to.be.within(0, 1_000);
    expect(pool.pool.status().busyContexts).to.equal(1);
    await waitFor('the lease to be reclaimed', () => pool!.pool.status().busyContexts === 0, 10_000);
    expect(pool.pool.status().leasesExpired).to.equal(1);
    const renew = await fetch(`${pool.url}/leases/${grant.leaseId}/renew`, { method: 'POST', headers: auth, body: '{}' });
    expect(renew.status).to.equal(404);
    const del = await fetch(`${pool.url}/leases/${grant.leaseId}`, { method: 'DELETE', headers: auth });
    expect(del.status).to.equal(204);
  });

  it('keeps a lease alive while the client holds it by renewing it', async function () {
    pool = await startTestPool({ size: 1, pool: { healthIntervalMs: 100 } });
    client = new PoolClient({ url: pool.url, token: pool.token, leaseTtlMs: 1_500 });
    const lease = await client.lease();
    try {
      const granted = Date.now();
      // Outlive the TTL twice over; renewals (every second) must keep the lease.
      await waitFor('three TTL-lengths to pass', () => Date.now() - granted > 4_500, 10_000);
      expect(pool.pool.status()).to.include({ busyContexts: 1, leasesExpired: 0 });
      await (await lease.context.newPage()).goto(`${pages.url}/renewed`, { timeout: 15_000 });
    } finally {
      await lease.release();
    }
    expect(pool.pool.status().busyContexts).to.equal(0);
  });
});
