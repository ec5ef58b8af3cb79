import { expect } from 'chai';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config/config.js';
import { isAlive } from '../../src/infra/stale-process.js';
import { LocalBrowserServiceManager } from '../../src/browser/local-browser-service-manager.js';
import { testLogger } from '../support/shared-services.js';

const MONDAY_10 = Date.parse('2026-11-23T10:00:00Z');

describe('LocalBrowserServiceManager (browser-pool processes with real Chromium)', function () {
  this.timeout(120_000);
  let dataDir: string;
  const managers: LocalBrowserServiceManager[] = [];

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'rpa-local-browsers-'));
  });

  afterEach(async () => {
    await Promise.all(managers.splice(0).map((m) => m.close()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  function config(extra: Record<string, string> = {}): Config {
    return loadConfig({
      env: {
        RPA_DATA_DIR: dataDir,
        BROWSER_MAX_POOLS: '2',
        BROWSER_WARM_POOLS: '1',
        BROWSER_JOBS_PER_POOL: '1',
        BROWSER_READY_TIMEOUT_MS: '60000',
        BROWSER_BUSINESS_HOURS: 'mon-fri 07:00-19:00',
        ...extra,
      },
    });
  }

  /** Without `command`: the manager's default, `node dist/src/main.js` with RPA_ROLES=browser. */
  function create(extra: Record<string, string> = {}, command?: { file: string; args: string[] }): LocalBrowserServiceManager {
    const m = new LocalBrowserServiceManager(config(extra), {
      logger: testLogger,
      env: { PATH: process.env.PATH, BROWSER_POOL_SIZE: '1', LOG_LEVEL: 'warn', RPA_DATA_DIR: dataDir },
      command,
      stdio: 'ignore',
      reconcileIntervalMs: 0,
      now: () => new Date(MONDAY_10),
    });
    managers.push(m);
    return m;
  }

  const pids = () => readdirSync(join(dataDir, 'browser-services')).map((f) => Number(readFileSync(join(dataDir, 'browser-services', f), 'utf8')));

  it('starts a warm browser-pool process whose API answers with the token, and more with the queue', async () => {
    const m = create();
    await m.start();
    const [endpoint] = m.endpoints();
    expect(m.endpoints()).to.have.length(1);
    expect(endpoint!.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);

    const unauthorised = await fetch(`${endpoint!.url}/status`);
    expect(unauthorised.status).to.equal(401);
    const status = await fetch(`${endpoint!.url}/status`, { headers: { authorization: `Bearer ${endpoint!.token}` } });
    expect(status.status).to.equal(200);
    expect(((await status.json()) as { playwrightVersion: string }).playwrightVersion).to.equal('1.65.1');

    const result = await m.ensureCapacity({ queuedJobs: 5 });
    expect(result).to.include({ desired: 2 });
    expect(result.created).to.have.length(1);
    expect(result.failed).to.deep.equal([]);
    expect(new Set(m.endpoints().map((e) => e.url)).size).to.equal(2);
    const running = pids();
    expect(running).to.have.length(2);
    expect(running.every(isAlive)).to.equal(true);

    await m.close();
    expect(running.some(isAlive)).to.equal(false);
    expect(readdirSync(join(dataDir, 'browser-services'))).to.deep.equal([]);
  });

  it('stops the processes an earlier run left behind', async () => {
    const crashed = create();
    await crashed.start();
    const [left] = pids();
    expect(isAlive(left!)).to.equal(true);
    // The earlier manager "crashed": it never closes. A new one starts on the same data folder.
    managers.splice(managers.indexOf(crashed), 1);

    const next = create({ BROWSER_WARM_POOLS: '0' });
    await next.start();
    expect(isAlive(left!)).to.equal(false);
    expect(next.endpoints()).to.deep.equal([]);
    expect(existsSync(join(dataDir, 'browser-services'))).to.equal(true);
    expect(readdirSync(join(dataDir, 'browser-services'))).to.deep.equal([]);
  });

  it('replaces a process that died, and reports one that exits before it is ready', async () => {
    const m = create();
    await m.start();
    const [first] = m.endpoints();
    const [pid] = pids();
    process.kill(pid!, 'SIGKILL');
    while (isAlive(pid!)) await new Promise((r) => setTimeout(r, 20));
    const result = await m.reconcile();
    expect(result.created).to.have.length(1);
    expect(m.endpoints().map((e) => e.id)).to.deep.equal(result.created);
    expect(m.endpoints()[0]!.id).not.to.equal(first!.id);

    const broken = create({ BROWSER_WARM_POOLS: '0' }, { file: process.execPath, args: ['-e', 'process.exit(3)'] });
    await broken.start();
    const failed = await broken.ensureCapacity({ queuedJobs: 1 });
    expect(failed.failed).to.have.length(1);
    expect(failed.failed[0]!.error.code).to.equal('BROWSER_GONE');
    expect(failed.failed[0]!.error.message).to.contain('code 3');
  });
});
