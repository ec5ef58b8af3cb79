import { expect } from 'chai';
import { PoolClient } from '../../../src/browser/client/pool-client.js';
import { PLAYWRIGHT_VERSION } from '../../../src/browser/client/playwright-version.js';
import { isRpaError } from '../../../src/errors/failures.js';
import { startTestPool, type TestPool } from '../pool-fixture.js';

describe('browser pool server: authentication and health endpoints (real Chromium)', function () {
  let pool: TestPool;

  before(async function () {
    pool = await startTestPool({ size: 1 });
  });
  after(async function () {
    await pool?.close();
  });

  const routes: Array<[string, string]> = [
    ['GET', '/status'],
    ['GET', '/browsers'],
    ['POST', '/leases'],
    ['POST', '/leases/x/renew'],
    ['DELETE', '/leases/x'],
  ];

  for (const [method, path] of routes) {
    it(`${method} ${path} answers 401 without a token and with a wrong one`, async function () {
      const none = await fetch(`${pool.url}${path}`, { method });
      expect(none.status).to.equal(401);
      expect(none.headers.get('www-authenticate')).to.equal('Bearer');
      const body = (await none.json()) as { error: { code: string } };
      expect(body.error.code).to.equal('UNAUTHENTICATED');
      const wrong = await fetch(`${pool.url}${path}`, { method, headers: { authorization: `Bearer ${pool.token}x` } });
      expect(wrong.status).to.equal(401);
    });
  }

  it('a refused lease grants nothing', async function () {
    await fetch(`${pool.url}/leases`, { method: 'POST' });
    expect(pool.pool.status().leasesGranted).to.equal(0);
  });

  it('serves /health/live and /health/ready without a token', async function () {
    const live = await fetch(`${pool.url}/health/live`);
    expect(live.status).to.equal(200);
    expect(await live.json()).to.deep.equal({ status: 'ok' });
    const ready = await fetch(`${pool.url}/health/ready`);
    expect(ready.status).to.equal(200);
    expect(await ready.json()).to.deep.include({ status: 'ready' });
  });

  it('GET /status and /browsers with the token report the pool and its Playwright version', async function () {
    const headers = { authorization: `Bearer ${pool.token}` };
    const status = (await (await fetch(`${pool.url}/status`, { headers })).json()) as Record<string, unknown>;
    expect(status).to.include({ playwrightVersion: PLAYWRIGHT_VERSION, size: 1, busyContexts: 0, restarts: 0, retired: 0, maxContextsPerBrowser: 2, freeSlots: 2 });
    const { browsers } = (await (await fetch(`${pool.url}/browsers`, { headers })).json()) as { browsers: Array<Record<string, unknown>> };
    expect(browsers).to.have.length(1);
    expect(browsers[0]).to.include({ state: 'ready', contexts: 0, leases: 0 });
    expect(browsers[0]!.memoryMb).to.be.a('number').greaterThan(0);
    expect(JSON.stringify(browsers), 'the browser list shows no endpoint').to.not.match(/ws:\/\//);
  });

  it('rejects a malformed lease request with 400', async function () {
    const res = await fetch(`${pool.url}/leases`, {
      method: 'POST',
      headers: { authorization: `Bearer ${pool.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ttlMs: -5 }),
    });
    expect(res.status).to.equal(400);
    expect(((await res.json()) as { error: { field?: string; code: string } }).error.code).to.equal('VALIDATION_FAILED');
  });

  it('a client with the wrong token gets UNAUTHENTICATED, not a retry loop', async function () {
    const client = new PoolClient({ url: pool.url, token: 'not-the-token-at-all' });
    try {
      const err = await client.lease({ timeoutMs: 5_000 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isRpaError(err, 'UNAUTHENTICATED'), String(err)).to.equal(true);
    } finally {
      await client.close();
    }
  });
});
