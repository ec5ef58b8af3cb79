import { expect } from 'chai';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PoolClient } from '../../../src/browser/client/pool-client.js';
import { poolToken } from '../../../src/browser/client/pool-token.js';
import { FleetManager } from '../../../src/browser/fleet/fleet-manager.js';
import { LocalPoolBackend } from '../../../src/browser/fleet/local-backend.js';
import { processTree } from '../../../src/browser/pool/process-tree-memory.js';
import { isAlive } from '../../../src/infra/stale-process.js';
import { testLogger } from '../../support/shared-services.js';
import { chromiumPath, waitFor } from '../pool-fixture.js';

const T0 = Date.parse('2026-11-23T10:00:00Z');
const TOKEN = 'local-pool-token-0123456789abcdef';
const SECRET = 'Portal-Password-That-Must-Stay-In-The-Worker';

describe('FleetManager on the local backend (pool processes with real Chromium)', function () {
  this.timeout(120_000);
  let dataDir: string;
  let clock: number;
  const managers: FleetManager[] = [];

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'rpa-local-pools-'));
    clock = T0;
  });

  afterEach(async () => {
    await Promise.all(managers.splice(0).map((m) => m.close()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Without `command`: the backend's default, `node dist/src/main.js` with RPA_ROLES=browser. */
  function create(command?: { file: string; args: string[] }, env: NodeJS.ProcessEnv = process.env): FleetManager {
    const m = new FleetManager({
      policy: { maxPools: 2, jobsPerPool: 1, idleTimeoutMs: 60_000 },
      backend: new LocalPoolBackend({
        command,
        pool: { size: 1, maxContextsPerBrowser: 2, retireAfterContexts: 100, maxMemoryMb: 4096, chromiumPath: chromiumPath(), logLevel: 'warn', dataDir },
        token: TOKEN,
        env,
        pidDir: join(dataDir, 'browser-pools'),
        readyTimeoutMs: 60_000,
        logger: testLogger,
        stdio: 'ignore',
      }),
      token: poolToken(TOKEN),
      logger: testLogger,
      readyTimeoutMs: 60_000,
      registeredBy: 'test',
      idPrefix: 'local-pool',
      now: () => new Date(clock),
    });
    managers.push(m);
    return m;
  }

  const pids = () => readdirSync(join(dataDir, 'browser-pools')).map((f) => Number(readFileSync(join(dataDir, 'browser-pools', f), 'utf8')));

  it('starts a pool process whose API answers with the token, more with the queue, and stops them on close', async () => {
    const m = create();
    await m.start();
    await m.reconcile({ queuedJobs: 0, warmMinimum: 1 });
    const [endpoint] = m.endpoints();
    expect(m.endpoints()).to.have.length(1);
    expect(endpoint!.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);

    const unauthorised = await fetch(`${endpoint!.url}/status`);
    expect(unauthorised.status).to.equal(401);
    const status = await fetch(`${endpoint!.url}/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(status.status).to.equal(200);
    expect(((await status.json()) as { playwrightVersion: string }).playwrightVersion).to.equal('1.65.1');

    const result = await m.reconcile({ queuedJobs: 5, warmMinimum: 1 });
    expect(result).to.include({ desired: 2 });
    expect(result.created).to.have.length(1);
    expect(result.failed).to.deep.equal([]);
    expect(new Set(m.endpoints().map((e) => e.url)).size).to.equal(2);
    const running = pids();
    expect(running).to.have.length(2);
    expect(running.every(isAlive)).to.equal(true);

    await m.close();
    expect(running.some(isAlive)).to.equal(false);
    expect(readdirSync(join(dataDir, 'browser-pools'))).to.deep.equal([]);
  });

  it('stops idle pools after the idle timeout, but never one with a lease', async () => {
    const m = create();
    await m.start();
    await m.reconcile({ queuedJobs: 2, warmMinimum: 0 });
    expect(m.endpoints()).to.have.length(2);
    const [leased] = m.endpoints();
    const client = new PoolClient({ url: leased!.url, token: TOKEN, logger: testLogger });
    const lease = await client.lease();
    try {
      expect((await m.reconcile({ queuedJobs: 0, warmMinimum: 0 })).removed, 'idle, but not for long enough yet').to.deep.equal([]);
      clock += 60_000;
      const result = await m.reconcile({ queuedJobs: 0, warmMinimum: 0 });
      expect(result.desired).to.equal(1); // the leased one
      expect(result.removed).to.have.length(1);
      expect(result.removed).not.to.include(leased!.id);
      expect(m.endpoints().map((e) => e.id)).to.deep.equal([leased!.id]);
    } finally {
      await lease.release();
      await client.close();
    }
    await m.reconcile({ queuedJobs: 0, warmMinimum: 0 }); // seen without a lease now
    clock += 59_000;
    expect((await m.reconcile({ queuedJobs: 0, warmMinimum: 0 })).removed).to.deep.equal([]);
    clock += 1_000;
    expect((await m.reconcile({ queuedJobs: 0, warmMinimum: 0 })).removed).to.deep.equal([leased!.id]);
    expect(m.endpoints()).to.deep.equal([]);
  });

  it('stops the processes an earlier run left behind', async () => {
    const crashed = create();
    await crashed.start();
    await crashed.reconcile({ queuedJobs: 0, warmMinimum: 1 });
    const [left] = pids();
    expect(isAlive(left!)).to.equal(true);
    // The earlier manager "crashed": it never closes. A new one starts on the same data folder.
    managers.splice(managers.indexOf(crashed), 1);

    const next = create();
    expect(await next.start()).to.have.length(1);
    expect(isAlive(left!)).to.equal(false);
    expect(next.endpoints()).to.deep.equal([]);
    expect(existsSync(join(dataDir, 'browser-pools'))).to.equal(true);
    expect(readdirSync(join(dataDir, 'browser-pools'))).to.deep.equal([]);
  });

  it('replaces a process that died, and reports one that exits before it is ready', async () => {
    const m = create();
    await m.start();
    await m.reconcile({ queuedJobs: 0, warmMinimum: 1 });
    const [first] = m.endpoints();
    const [pid] = pids();
    process.kill(pid!, 'SIGKILL');
    while (isAlive(pid!)) await new Promise((r) => setTimeout(r, 20));
    const result = await m.reconcile({ queuedJobs: 0, warmMinimum: 1 });
    expect(result.created).to.have.length(1);
    expect(m.endpoints().map((e) => e.id)).to.deep.equal(result.created);
    expect(m.endpoints()[0]!.id).not.to.equal(first!.id);

    const broken = create({ file: process.execPath, args: ['-e', 'process.exit(3)'] });
    await broken.start();
    const failed = await broken.reconcile({ queuedJobs: 1, warmMinimum: 0 });
    expect(failed.failed).to.have.length(1);
    expect(failed.failed[0]!.error.code).to.equal('BROWSER_GONE');
    expect(failed.failed[0]!.error.message).to.contain('code 3');
  });

  it('gives a pool process and its Chromium none of the worker\'s secrets, only what they need', async () => {
    const workerEnv = { ...process.env, OCTOTEL_PASSWORD: SECRET, DATABASE_URL: `postgres://rpa:${SECRET}@127.0.0.1:5432/rpa`, SOME_OTHER_SECRET: SECRET };
    const m = create(undefined, workerEnv);
    await m.start();
    await m.reconcile({ queuedJobs: 0, warmMinimum: 1 });
    const [pool] = pids();
    let tree: number[] = [];
    await waitFor('Chromium under the pool process', () => (tree = processTree(pool!)).length > 2);
    const environ = (pid: number) => {
      try {
        return readFileSync(`/proc/${pid}/environ`, 'utf8');
      } catch {
        return ''; // a short-lived helper that is gone already
      }
    };
    const own = environ(pool!).split('\0');
    expect(own).to.include('RPA_ROLES=browser');
    expect(own.some((v) => v.startsWith('BROWSER_POOL_TOKEN='))).to.equal(true);
    expect(own.some((v) => /^(OCTOTEL_|DATABASE_URL|SOME_OTHER_SECRET)/.test(v)), own.join(' ')).to.equal(false);
    for (const pid of tree) expect(environ(pid), `/proc/${pid}/environ`).not.to.contain(SECRET);
    // Chromium does not even get the pool token.
    for (const pid of tree.slice(1)) expect(environ(pid), `/proc/${pid}/environ`).not.to.contain(TOKEN);
  });
});
