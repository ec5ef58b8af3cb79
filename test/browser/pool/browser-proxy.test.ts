import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { expect } from 'chai';
import { chromium } from 'playwright-core';
import { PoolClient } from '../../../src/browser/client/pool-client.js';
import type { LeaseGrant } from '../../../src/browser/pool/pool-api.js';
import { startPageServer, startTestPool, type TestPool } from '../pool-fixture.js';

/** Local addresses of the sockets listening on `port` (IPv4 and IPv6), from /proc/net/tcp*. */
function listeners(port: number): string[] {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const out: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (!local || state !== '0A') continue; // 0A = LISTEN
      const [address, p] = local.split(':');
      if (p !== hex) continue;
      out.push(address!.length === 8 ? address!.match(/../g)!.reverse().map((b) => parseInt(b, 16)).join('.') : `ipv6:${address}`);
    }
  }
  return out;
}

/** Answers an upgrade request to the pool port: the status it refused with, or 101. */
function upgradeStatus(url: string, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, {
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': randomBytes(16).toString('base64'), ...headers },
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 101);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('pool port: the pool serves its browsers on its own port (real Chromium)', function () {
  this.timeout(60_000);
  let pool: TestPool;
  let pages: Awaited<ReturnType<typeof startPageServer>>;

  before(async () => {
    pages = await startPageServer();
    pool = await startTestPool({ size: 1, maxContextsPerBrowser: 3 });
  });
  after(async () => {
    await pool?.close();
    await pages?.close();
  });

  it('grants ws endpoints on the pool port, and a client leases and drives Chromium through that port alone', async () => {
    const client = new PoolClient({ url: pool.url, token: pool.token });
    try {
      const auth = { authorization: `Bearer ${pool.token}`, 'content-type': 'application/json' };
      const grant = (await (await fetch(`${pool.url}/leases`, { method: 'POST', headers: auth, body: '{}' })).json()) as LeaseGrant;
      const endpoint = new URL(grant.wsEndpoint);
      expect(endpoint.protocol).to.equal('ws:');
      expect(endpoint.host, 'the host and port the client called').to.equal(new URL(pool.url).host);
      expect(Number(endpoint.port)).to.equal(pool.port);
      expect(endpoint.pathname).to.match(new RegExp(`^/browsers/${grant.browserId}/[A-Za-z0-9_-]{32}$`));
      await fetch(`${pool.url}/leases/${grant.leaseId}`, { method: 'DELETE', headers: auth });

      // The browser's own Playwright server listens on 127.0.0.1 only, on a port no client is told.
      const browser = pool.pool.get(grant.browserId)!;
      const own = browser.loopbackTarget()!;
      expect(own.port).not.to.equal(pool.port);
      expect(listeners(own.port)).to.deep.equal(['127.0.0.1']);

      const heading = await client.withLease(async (lease) => {
        const page = await lease.context.newPage();
        await page.goto(`${pages.url}/through-the-pool-port`, { timeout: 15_000 });
        return page.locator('h1').textContent();
      });
      expect(heading).to.equal('hello from /through-the-pool-port');
    } finally {
      await client.close();
    }
  });

  it('refuses an upgrade without the pool token (401), with a wrong secret or an unknown browser (404), before reaching a browser', async () => {
    const [browser] = pool.pool.list();
    const path = pool.pool.get(browser!.id)!.endpointPath();
    const bearer = { authorization: `Bearer ${pool.token}` };
    expect(await upgradeStatus(pool.url, path, {})).to.equal(401);
    expect(await upgradeStatus(pool.url, path, { authorization: `Bearer ${pool.token}x` })).to.equal(401);
    expect(await upgradeStatus(pool.url, `${path.slice(0, -3)}abc`, bearer)).to.equal(404);
    expect(await upgradeStatus(pool.url, `/browsers/no-such-browser/${path.split('/').pop()}`, bearer)).to.equal(404);
    expect(await upgradeStatus(pool.url, '/status', bearer)).to.equal(404);
    expect(await upgradeStatus(pool.url, path, bearer)).to.equal(101);

    // Playwright itself, knowing the endpoint but not the token, gets nowhere.
    const url = `ws://${new URL(pool.url).host}${path}`;
    const err = await chromium.connect(url, { timeout: 5_000 }).then(
      async (b) => {
        await b.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(err, 'connect without the pool token').to.be.instanceOf(Error);
    const connected = await chromium.connect(url, { timeout: 10_000, headers: bearer });
    expect(connected.isConnected()).to.equal(true);
    await connected.close();
  });
});
