import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { isAlive } from '../../src/infra/stale-process.js';
import { expectedValidation } from '../support/expected-circuit.js';
import { startSystemHarness, waitForBatchesClosed, waitForJobs, type SystemHarness } from '../support/system-harness.js';

const CIRCUITS: Record<string, string[]> = {
  octotel: ['OCT731201', 'OCT731202', 'OCT731217'],
  openserve: ['OSN7312031', 'OSN7312045', 'OSN7312050'],
  metrofiber: ['MFN-7312-0061', 'MFN-7312-0073', 'MFN-7312-0088'],
  evotel: ['EVO731291', 'EVO731204', 'EVO731236'],
};

/**
 * The worker without BROWSER_POOL_URL and without the browser role in its process, as in a
 * cluster: it leads the fleet (alone here), starts pools with the queues (local mode: pool
 * processes with real Chromium) and registers them in the pool directory, and the sandboxed
 * batch children lease from the pools in the directory.
 */
describe('batches through the fleet’s pools (BROWSER_MANAGER_MODE=local, no BROWSER_POOL_URL)', function () {
  this.timeout(600_000);
  let harness: SystemHarness | undefined;

  after(async () => {
    await harness?.close();
  });

  it('runs validation jobs of every provider to completion on pool processes the fleet started, and stops them on close', async () => {
    harness = await startSystemHarness({
      RPA_ROLES: 'api,batcher,worker,portals',
      BROWSER_MANAGER_MODE: 'local',
      BROWSER_MAX_POOLS: '2',
      BROWSER_POOL_SIZE: '1',
      BROWSER_JOBS_PER_POOL: '10',
      BROWSER_READY_TIMEOUT_MS: '90000',
      BATCH_SIZE: '10',
    });
    const { system } = harness;
    expect(system.browser, 'no browser role in this process').to.equal(undefined);
    expect(system.runtime!.browserPool).to.equal(undefined);
    expect(system.fleet, 'the worker takes part in the fleet').to.not.equal(undefined);
    expect(system.fleet!.isLeader(), 'alone, it leads').to.equal(true);
    expect(system.fleet!.manager.endpoints(), 'none before there is work (no warm pool outside business hours)').to.deep.equal([]);

    const submitted: { id: number; provider: string; circuit: string }[] = [];
    for (const [provider, circuits] of Object.entries(CIRCUITS)) {
      const res = await harness.api('POST', '/jobs/bulk', { provider, action: 'validation', jobs: circuits.map((circuit_number) => ({ circuit_number })) });
      expect(res.status, JSON.stringify(res.body)).to.equal(202);
      res.body.job_ids.forEach((id: number, i: number) => submitted.push({ id, provider, circuit: circuits[i]! }));
    }

    // Seen while the batches run: the pool processes the fleet started (pid files).
    const pidDir = join(system.config.dataDir, 'browser-pools');
    const pids = new Set<number>();
    const watch = setInterval(() => {
      try {
        for (const f of readdirSync(pidDir)) pids.add(Number(readFileSync(join(pidDir, f), 'utf8')));
      } catch {
        // not created yet
      }
    }, 100);
    let jobs: Map<number, any>;
    try {
      jobs = await waitForJobs(harness, submitted.map((s) => s.id), 480_000);
    } finally {
      clearInterval(watch);
    }
    for (const s of submitted) {
      const job = jobs.get(s.id);
      expect(job.status, `job ${s.id} ${s.circuit}: ${JSON.stringify(job.error)}`).to.equal('completed');
      expect(job.result, s.circuit).to.deep.equal(expectedValidation(s.provider, s.circuit));
    }
    await waitForBatchesClosed(harness!, 60_000);
    expect(pids.size, 'pool processes started').to.be.within(1, 2);
    for (const provider of Object.keys(CIRCUITS)) {
      const batches = await harness.database.db.selectFrom('batches').select(['status', 'login_count']).where('provider', '=', provider).execute();
      expect(batches.length, provider).to.be.greaterThan(0);
      expect(batches.every((b) => b.status === 'completed'), provider).to.equal(true);
    }

    // Every lease a batch took came back to its pool; the API reports the fleet, never a token.
    const [token] = Object.values(system.runtime!.poolTokens!);
    const busy = async () => {
      let sum = 0;
      for (const e of system.fleet!.manager.endpoints()) {
        const res = await fetch(`${e.url}/status`, { headers: { authorization: `Bearer ${token}` } });
        sum += ((await res.json()) as { busyContexts: number }).busyContexts;
      }
      return sum;
    };
    const deadline = Date.now() + 30_000;
    while ((await busy()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(await busy()).to.equal(0);
    const health = await harness.api('GET', '/health');
    expect(health.body.browsers).to.include({ mode: 'local', role: 'leader' });
    expect(health.body.browsers.pools).to.be.within(1, 2);
    expect(JSON.stringify(health.body)).not.to.contain(token);
    expect((await harness.api('GET', '/health/ready')).body.browsers).to.deep.equal({ ok: true });

    await harness.close();
    harness = undefined;
    expect([...pids].filter(isAlive), 'pool processes left running').to.deep.equal([]);
    expect(readdirSync(pidDir)).to.deep.equal([]);
  });
});
