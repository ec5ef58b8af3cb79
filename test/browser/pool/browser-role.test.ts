import { expect } from 'chai';
import { PoolClient } from '../../../src/browser/client/pool-client.js';
import { browserRoleOptions, processPoolToken } from '../../../src/browser/browser-options.js';
import { startBrowserRole } from '../../../src/browser/pool/browser-role.js';
import { loadConfig } from '../../../src/config/config.js';
import { isRpaError } from '../../../src/errors/failures.js';
import { testLogger } from '../../support/shared-services.js';
import { chromiumPath } from '../pool-fixture.js';

describe('startBrowserRole (browser role from Config, real Chromium)', function () {
  it('without BROWSER_POOL_TOKEN: generates a token, binds 127.0.0.1 and serves in-process clients', async function () {
    const config = loadConfig({ env: { BROWSER_POOL_SIZE: '1', CHROMIUM_PATH: chromiumPath(), HOST: '0.0.0.0' } });
    const role = await startBrowserRole(browserRoleOptions(config, processPoolToken(config), testLogger));
    try {
      expect(role.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(role.token).to.have.length.greaterThanOrEqual(32);
      const client = new PoolClient({ url: role.url, token: role.token });
      try {
        expect(await client.status()).to.include({ size: 1, maxContextsPerBrowser: 4 });
        await client.withLease(async (lease) => {
          await (await lease.context.newPage()).setContent('<p>role</p>');
        });
      } finally {
        await client.close();
      }
    } finally {
      await role.close();
    }
  });

  it('with BROWSER_POOL_TOKEN and BROWSER_POOL_PORT: uses them (as a standalone RPA_ROLES=browser process would)', async function () {
    const { freePort } = await import('../../../src/infra/free-port.js');
    const port = await freePort();
    const token = 'configured-pool-token-0123456789';
    const config = loadConfig({
      env: { BROWSER_POOL_SIZE: '1', BROWSER_POOL_PORT: String(port), BROWSER_POOL_TOKEN: token, BROWSER_MAX_CONTEXTS: '3', CHROMIUM_PATH: chromiumPath(), HOST: '127.0.0.1', RPA_ROLES: 'browser' },
    });
    const role = await startBrowserRole(browserRoleOptions(config, processPoolToken(config), testLogger));
    try {
      expect(role.url).to.equal(`http://127.0.0.1:${port}`);
      expect(role.token).to.equal(token);
      const status = await fetch(`${role.url}/status`, { headers: { authorization: `Bearer ${token}` } });
      expect(await status.json()).to.include({ size: 1, maxContextsPerBrowser: 3 });
    } finally {
      await role.close();
    }
  });

  it('fails start-up with a clear error when Chromium cannot be launched, leaving nothing running', async function () {
    const config = loadConfig({ env: { BROWSER_POOL_SIZE: '1', CHROMIUM_PATH: '/nonexistent/chromium' } });
    const err = await startBrowserRole(browserRoleOptions(config, processPoolToken(config), testLogger)).then(
      (role) => role.close().then(() => undefined),
      (e: unknown) => e,
    );
    expect(isRpaError(err, 'SERVICE_UNAVAILABLE'), String(err)).to.equal(true);
    expect((err as Error).message).to.include('/nonexistent/chromium');
  });

  it('in a process with Valkey: registers its pool in the directory (token id, no token) while it runs, and leaves it on close', async function () {
    const { createValkey } = await import('../../../src/queues/valkey.js');
    const { PoolDirectory } = await import('../../../src/browser/client/pool-directory.js');
    const { sharedValkey, uniquePrefix } = await import('../../support/shared-services.js');
    const redis = createValkey((await sharedValkey()).url, 'worker');
    const directory = new PoolDirectory({ redis, prefix: uniquePrefix('role-directory') });
    const config = loadConfig({ env: { BROWSER_POOL_SIZE: '1', CHROMIUM_PATH: chromiumPath() } });
    const token = processPoolToken(config);
    const role = await startBrowserRole(browserRoleOptions(config, token, testLogger, { directory, id: 'browser-role-test', registeredBy: 'browser-role-test', refreshMs: 100 }));
    try {
      const { waitFor } = await import('../pool-fixture.js');
      await waitFor('the pool in the directory', async () => (await directory.list()).length === 1, 5_000);
      const [entry] = await directory.list();
      expect(entry).to.include({ id: 'browser-role-test', url: role.url, tokenId: role.tokenId, freeSlots: 4, busyContexts: 0 });
      expect(role.tokenId).to.match(/^generated-[0-9a-f]{12}$/);
      expect(JSON.stringify(await redis.hgetall(directory.key))).not.to.contain(role.token);
    } finally {
      await role.close();
    }
    expect(await directory.list()).to.deep.equal([]);
    redis.disconnect();
  });

  it('launches Chromium without the secrets of the process that runs the pool', async function () {
    const { readFileSync } = await import('node:fs');
    const { processTree } = await import('../../../src/browser/pool/process-tree-memory.js');
    const secret = `in-process-secret-${Date.now()}`;
    process.env.PORTAL_PASSWORD_FOR_THIS_TEST = secret;
    try {
      const config = loadConfig({ env: { BROWSER_POOL_SIZE: '1', CHROMIUM_PATH: chromiumPath() } });
      const token = processPoolToken(config);
      const role = await startBrowserRole(browserRoleOptions(config, token, testLogger));
      try {
        const client = new PoolClient({ url: role.url, token: role.token });
        const status = await client.browsers();
        await client.close();
        const tree = processTree(status[0]!.pid!);
        expect(tree.length).to.be.greaterThan(1);
        for (const pid of tree) {
          let environ = '';
          try {
            environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
          } catch {
            continue; // gone already
          }
          expect(environ, `/proc/${pid}/environ`).not.to.contain(secret);
          expect(environ).not.to.contain(token.token);
        }
      } finally {
        await role.close();
      }
    } finally {
      delete process.env.PORTAL_PASSWORD_FOR_THIS_TEST;
    }
  });
});
