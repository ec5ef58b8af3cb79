import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { processTree } from '../../src/browser/pool/process-tree-memory.js';
import { freePort } from '../../src/infra/free-port.js';
import { isAlive } from '../../src/infra/stale-process.js';
import { sharedValkey, testRoot, uniquePrefix } from '../support/shared-services.js';
import { createTestDatabase } from '../support/test-database.js';
import { until } from '../support/worker-process.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const PASSWORD = `Portal-Password-${Date.now()}-only-for-the-worker`;
const OTHER = `ords-client-secret-${Date.now()}`;

function environ(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8');
  } catch {
    return ''; // a short-lived Chromium helper that is gone already
  }
}

/**
 * A worker as shipped (`node dist/src/main.js`, RPA_ROLES=worker, local mode), started with a
 * portal password and another secret in its environment: the pool process it starts, and that
 * pool's Chromium, carry neither (their /proc/<pid>/environ).
 */
describe('a worker\'s secrets stay in the worker: pool processes and Chromium get only what they need', function () {
  this.timeout(120_000);

  it('no portal password in /proc/<pid>/environ of the pool process or any of its Chromium processes', async () => {
    const database = await createTestDatabase({ migrate: false });
    const dataDir = join(testRoot(), uniquePrefix('secrets'));
    const port = await freePort();
    const worker = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        RPA_ROLES: 'worker',
        PORT: String(port),
        HOST: '127.0.0.1',
        RPA_DATA_DIR: dataDir,
        DATABASE_URL: database.url,
        VALKEY_URL: (await sharedValkey()).url,
        QUEUE_PREFIX: uniquePrefix('secrets'),
        BROWSER_MANAGER_MODE: 'local',
        BROWSER_POOL_SIZE: '1',
        BROWSER_WARM_MIN: '1',
        BROWSER_BUSINESS_HOURS: 'mon-sun 00:00-24:00',
        OPENSERVE_PASSWORD: PASSWORD,
        ORDS_CLIENT_SECRET: OTHER,
        LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const exit = once(worker, 'exit');
    const pidDir = join(dataDir, 'browser-pools');
    let pools: number[] = [];
    try {
      expect(environ(worker.pid!), 'the worker itself has them').to.contain(PASSWORD);
      await until(
        async () => {
          try {
            pools = readdirSync(pidDir).map((f) => Number(readFileSync(join(pidDir, f), 'utf8')));
          } catch {
            pools = [];
          }
          return pools.length === 1 && processTree(pools[0]!).length > 2;
        },
        60_000,
        'a warm pool process with Chromium under it',
      );
      await until(async () => (await fetch(`http://127.0.0.1:${port}/health/ready`).then((r) => r.status, () => 0)) === 200, 60_000, 'the worker ready');
      const tree = processTree(pools[0]!);
      for (const pid of tree) {
        const env = environ(pid);
        expect(env, `/proc/${pid}/environ`).not.to.contain(PASSWORD);
        expect(env, `/proc/${pid}/environ`).not.to.contain(OTHER);
        expect(env, `/proc/${pid}/environ`).not.to.contain(database.url);
      }
      expect(environ(pools[0]!).split('\0')).to.include('RPA_ROLES=browser');
      worker.kill('SIGTERM');
      expect((await exit)[0]).to.equal(0);
      expect(pools.filter(isAlive), 'pool processes left running').to.deep.equal([]);
    } finally {
      if (worker.exitCode === null && worker.signalCode === null) {
        worker.kill('SIGKILL');
        await exit;
      }
      for (const pid of pools) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
      await database.drop();
    }
  });
});
