import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { PoolClient } from '../../../src/browser/client/pool-client.js';
import { PLAYWRIGHT_VERSION, assertSamePlaywrightVersion } from '../../../src/browser/client/playwright-version.js';
import { isRpaError } from '../../../src/errors/failures.js';

describe('Playwright version check between pool and client', function () {
  it('is the exact version pinned in package.json', async function () {
    const { readFile } = await import('node:fs/promises');
    const pkg = JSON.parse(await readFile(new URL('../../../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
    expect(pkg.dependencies['playwright-core']).to.equal(PLAYWRIGHT_VERSION);
  });

  it('passes for the same version and names both versions otherwise', function () {
    expect(() => assertSamePlaywrightVersion(PLAYWRIGHT_VERSION)).to.not.throw();
    expect(() => assertSamePlaywrightVersion('1.50.0', '1.65.1')).to.throw(/1\.50\.0.*1\.65\.1/);
    let thrown: unknown;
    try {
      assertSamePlaywrightVersion(undefined, '1.65.1');
    } catch (err) {
      thrown = err;
    }
    expect(isRpaError(thrown, 'BROWSER_VERSION_MISMATCH'), String(thrown)).to.equal(true);
    expect((thrown as { retryable: boolean }).retryable).to.equal(false);
  });

  // Only one playwright-core is installed, so a pool of another version cannot run here; this
  // stand-in answers GET /status like the pool and records what the client sent.
  it('the client refuses to lease from a pool that reports another version, before asking for a lease', async function () {
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ playwrightVersion: '1.49.0' }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const client = new PoolClient({ url, token: 'a-token-of-sixteen+' });
    try {
      const err = await client.lease({ timeoutMs: 2_000 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isRpaError(err, 'BROWSER_VERSION_MISMATCH'), String(err)).to.equal(true);
      expect((err as Error).message).to.include('1.49.0').and.include(PLAYWRIGHT_VERSION);
      expect(seen).to.deep.equal(['GET /status Bearer a-token-of-sixteen+']);
    } finally {
      await client.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
