import { expect } from 'chai';
import { BrowserPoolClient } from '../../src/browser/browser-pool-client.js';
import { startBrowserRole } from '../../src/browser/browser-pool-main.js';
import { loadConfig } from '../../src/config/config.js';
import { isRpaError } from '../../src/errors/failures.js';
import { testLogger } from '../support/shared-services.js';
import { chromiumPath } from './pool-fixture.js';

describe('startBrowserRole (browser role from Config, real Chromium)', function () {
  it('without BROWSER_POOL_TOKEN: generates a token, binds 127.0.0.1 and serves in-process clients', async function () {
    const config = loadConfig({ env: { BROWSER_POOL_SIZE: '1', CHROMIUM_PATH: chromiumPath(), HOST: '0.0.0.0' } });
    const role = await startBrowserRole(config, testLogger);
    try {
      expect(role.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(role.token).to.have.length.greaterThanOrEqual(32);
      const client = new BrowserPoolClient({ url: role.url, token: role.token });
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
    const { freePort } = await import('../../src/infra/free-port.js');
    const port = await freePort();
    const token = 'configured-pool-token-0123456789';
    const config = loadConfig({
      env: { BROWSER_POOL_SIZE: '1', BROWSER_POOL_PORT: String(port), BROWSER_POOL_TOKEN: token, BROWSER_MAX_CONTEXTS: '3', CHROMIUM_PATH: chromiumPath(), HOST: '127.0.0.1', RPA_ROLES: 'browser' },
    });
    const role = await startBrowserRole(config, testLogger);
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
    const err = await startBrowserRole(config, testLogger).then(
      (role) => role.close().then(() => undefined),
      (e: unknown) => e,
    );
    expect(isRpaError(err, 'SERVICE_UNAVAILABLE'), String(err)).to.equal(true);
    expect((err as Error).message).to.include('/nonexistent/chromium');
  });
});
