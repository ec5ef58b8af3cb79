import type { ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import { startSystemHarness, waitForJobs, type SystemHarness } from '../support/system-harness.js';
import { exited, startWorkerProcess, until } from '../support/worker-process.js';

const PROVIDERS = ['evotel', 'openserve'] as const;
const WORKER_ENV = { BATCH_LOCK_DURATION_MS: '4000', EVOTEL_MAX_SESSIONS: '1', OPENSERVE_MAX_SESSIONS: '1' };

describe('a worker killed with -9 mid-batch, three times', function () {
  this.timeout(900_000);
  let harness: SystemHarness;
  let worker: ChildProcess | undefined;

  before(async () => {
    // API, batchers, browsers and portals here; the worker in a child process we can kill.
    harness = await startSystemHarness({ RPA_ROLES: 'api,batcher,browser,portals', BATCH_SIZE: '10', BROWSER_MAX_CONTEXTS: '6', BATCH_LOCK_DURATION_MS: '4000' });
    for (const provider of PROVIDERS) await harness.portal(provider, 'POST', '/__sandbox/config', { latency_ms: 120 });
  });
  after(async () => {
    worker?.kill('SIGKILL');
    await harness?.close();
  });

  it('completes all 100 cancellations, each circuit cancelled exactly once on the portal, nothing left running', async () => {
    const circuits = {
      evotel: Array.from({ length: 50 }, (_, i) => `EVO7${String(i).padStart(4, '0')}${(i % 8) + 1}`),
      openserve: Array.from({ length: 50 }, (_, i) => `OSN8${String(i).padStart(5, '0')}${(i % 8) + 1}`),
    };
    const ids: number[] = [];
    for (const [provider, list] of Object.entries(circuits)) {
      const res = await harness.api('POST', '/jobs/bulk', { provider, action: 'cancellation', jobs: list.map((circuit_number) => ({ circuit_number })) });
      expect(res.status, JSON.stringify(res.body)).to.equal(202);
      ids.push(...res.body.job_ids);
    }
    const completed = async () =>
      Number((await harness.database.db.selectFrom('jobs').select((eb) => eb.fn.countAll().as('n')).where('status', '=', 'completed').executeTakeFirstOrThrow()).n);

    const running = async () =>
      Number((await harness.database.db.selectFrom('jobs').select((eb) => eb.fn.countAll().as('n')).where('status', '=', 'running').executeTakeFirstOrThrow()).n);

    worker = startWorkerProcess(harness, PROVIDERS, WORKER_ENV);
    for (const threshold of [10, 35, 60]) {
      // Killed with a job in flight: mid-batch, mid-job.
      await until(async () => (await completed()) >= threshold && (await running()) > 0, 300_000, `${threshold} completed jobs and one running`);
      worker.kill('SIGKILL');
      await exited(worker);
      worker = startWorkerProcess(harness, PROVIDERS, WORKER_ENV);
    }

    const jobs = await waitForJobs(harness, ids, 600_000);
    for (const job of jobs.values()) {
      expect(job.status, JSON.stringify(job.error)).to.equal('completed');
      expect(job.result.cancelled).to.equal(true);
    }
    for (const [provider, list] of Object.entries(circuits)) {
      const stats = await harness.portal(provider, 'GET', '/__sandbox/stats');
      expect(stats.duplicate_cancel_attempts, `${provider} duplicate cancel attempts`).to.equal(0);
      for (const circuit of list) expect(stats.cancellations[circuit], `${provider} ${circuit}`).to.equal(1);
    }
    const leftOpen = await harness.database.db.selectFrom('jobs').select('id').where('status', 'in', ['running', 'pending']).execute();
    expect(leftOpen).to.deep.equal([]);
    await until(
      async () => (await harness.database.db.selectFrom('batches').select('id').where('status', 'in', ['created', 'assigned', 'in_progress']).execute()).length === 0,
      120_000,
      'every batch closed',
    );
  });
});
