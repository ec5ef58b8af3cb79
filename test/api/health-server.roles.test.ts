import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type { EmbeddedValkeyHandle } from '../../src/infra/embedded-valkey.js';
import { freePort } from '../../src/infra/free-port.js';
import { SYSTEM_API_KEY, startSystemHarness, type SystemHarness } from '../support/system-harness.js';
import { createTestDatabase } from '../support/test-database.js';
import { privateValkey, sharedValkey, testRoot, uniquePrefix } from '../support/shared-services.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));

/** GET; `/health` itself with an admin key (without one it answers `{status}` alone). */
async function get(url: string): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = /\/health$/.test(url) ? { authorization: `Bearer ${SYSTEM_API_KEY}` } : {};
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text };
  }
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The health check's Valkey client fails fast (no offline queue): ready turns 200 once it has connected. */
const untilReady = (url: string) => until(`${url}/health/ready`, async () => (await get(`${url}/health/ready`)).status === 200, 10_000);

describe('/health/* in processes without the api role (what Kubernetes probes on worker pods)', function () {
  this.timeout(120_000);
  let harness: SystemHarness | undefined;
  let valkey: EmbeddedValkeyHandle | undefined;

  afterEach(async () => {
    await harness?.close();
    harness = undefined;
    await valkey?.stop();
    valkey = undefined;
  });

  for (const roles of ['batcher', 'maintenance', 'batcher,maintenance']) {
    it(`RPA_ROLES=${roles}: answers /health/live and /health/ready (Postgres and Valkey up), and nothing of the API`, async () => {
      harness = await startSystemHarness({ RPA_ROLES: roles });
      const { system } = harness;
      expect(system.apiUrl).to.equal(undefined);
      expect(system.healthUrl).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(await get(`${system.healthUrl}/health/live`)).to.deep.equal({ status: 200, body: { status: 'ok' } });
      await untilReady(system.healthUrl!);
      const ready = await get(`${system.healthUrl}/health/ready`);
      expect(ready.status).to.equal(200);
      expect(ready.body).to.include({ status: 'ready' });
      expect(ready.body.postgres.ok).to.equal(true);
      expect(ready.body.valkey.ok).to.equal(true);
      const health = await get(`${system.healthUrl}/health`);
      expect(health.status).to.equal(200);
      expect(health.body.circuit_breakers).to.have.keys('octotel', 'openserve', 'metrofiber', 'evotel');
      // Without a key, a worker pod's /health is as closed as the API's.
      const open = await fetch(`${system.healthUrl}/health`);
      expect(await open.json()).to.deep.equal({ status: 'ok' });
      expect((await get(`${system.healthUrl}/jobs`)).status).to.equal(404);
      expect(system.fleet, 'no worker role, no fleet').to.equal(undefined);
    });
  }

  it('RPA_ROLES=worker without a browser pool: answers both, ready once it can get browsers, and reports its fleet (no pools wanted yet)', async () => {
    harness = await startSystemHarness({ RPA_ROLES: 'worker', BROWSER_WARM_MIN: '0' });
    const { system } = harness;
    expect(system.healthUrl).to.be.a('string');
    expect((await get(`${system.healthUrl}/health/live`)).status).to.equal(200);
    await untilReady(system.healthUrl!);
    const ready = await get(`${system.healthUrl}/health/ready`);
    expect(ready.body.browsers).to.deep.equal({ ok: true });
    const health = await get(`${system.healthUrl}/health`);
    expect(health.body.browsers).to.include({ mode: 'local', role: 'leader', pools: 0 });
    expect(health.body.browsers.last_round).to.include({ ok: true, desired: 0 });
    expect(health.body.batch_processors).to.have.keys('octotel', 'openserve', 'metrofiber', 'evotel');
    const tokens = Object.values(system.runtime!.poolTokens!);
    expect(tokens).to.have.length(1);
    expect(JSON.stringify(health.body)).not.to.contain(tokens[0]);
  });

  it('with the api role, the API serves /health/* and no second server starts', async () => {
    harness = await startSystemHarness({ RPA_ROLES: 'api,batcher' });
    expect(harness.system.healthUrl).to.equal(undefined);
    await untilReady(harness.system.apiUrl!);
  });

  it('/health/ready is 503 while Valkey is unreachable (live stays 200), and 200 again once it is back', async () => {
    valkey = await privateValkey();
    harness = await startSystemHarness({ RPA_ROLES: 'batcher', VALKEY_URL: valkey.url });
    const url = harness.system.healthUrl!;
    await untilReady(url);
    await valkey.stop();
    const down = await get(`${url}/health/ready`);
    expect(down.status).to.equal(503);
    expect(down.body.status).to.equal('unavailable');
    expect(down.body.valkey.ok).to.equal(false);
    expect(down.body.postgres.ok).to.equal(true);
    expect((await get(`${url}/health/live`)).status).to.equal(200);
    await valkey.restart();
    await until('ready again', async () => (await get(`${url}/health/ready`)).status === 200);
  });

  it('as shipped: `node dist/src/main.js` with RPA_ROLES=batcher,worker,maintenance (the worker Deployment) serves both on PORT and stops on SIGTERM', async () => {
    const database = await createTestDatabase({ migrate: false });
    const port = await freePort();
    const child = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        RPA_ROLES: 'batcher,worker,maintenance',
        PORT: String(port),
        HOST: '127.0.0.1',
        RPA_DATA_DIR: join(testRoot(), uniquePrefix('worker-pod')),
        DATABASE_URL: database.url,
        VALKEY_URL: (await sharedValkey()).url,
        QUEUE_PREFIX: uniquePrefix('pod'),
        BROWSER_WARM_MIN: '0',
        LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const exit = once(child, 'exit');
    try {
      await until('/health/ready on PORT', async () => (await get(`http://127.0.0.1:${port}/health/ready`)).status === 200, 60_000);
      expect((await get(`http://127.0.0.1:${port}/health/live`)).status).to.equal(200);
      child.kill('SIGTERM');
      const [code] = await exit;
      expect(code).to.equal(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exit;
      }
      await database.drop();
    }
  });
});
