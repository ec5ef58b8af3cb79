import type { ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import { signalTree } from '../support/process-tree.js';
import { startSystemHarness, waitForJobs, type SystemHarness } from '../support/system-harness.js';
import { exited, startWorkerProcess, until } from '../support/worker-process.js';
import { expectOneEndEach } from '../support/exactly-once.js';

const LOCK_MS = 10_000;
const WORKER_ENV = { BATCH_LOCK_DURATION_MS: String(LOCK_MS), EVOTEL_MAX_SESSIONS: '2' };

/**
 * A worker frozen (SIGSTOP, with its sandboxed children) past its batch lock while another
 * worker takes the batch, then thawed: the frozen run is fenced off and touches nothing.
 */
describe('a worker frozen past its batch lock, then thawed', function () {
  this.timeout(600_000);
  let harness: SystemHarness;
  const workers: ChildProcess[] = [];

  before(async () => {
    harness = await startSystemHarness({ RPA_ROLES: 'api,batcher,browser,portals', BATCH_SIZE: '10', BROWSER_MAX_CONTEXTS: '6', BATCH_LOCK_DURATION_MS: String(LOCK_MS), EVOTEL_MAX_SESSIONS: '2' });
    await harness.portal('evotel', 'POST', '/__sandbox/config', { latency_ms: 150 });
  });
  after(async () => {
    for (const w of workers) if (w.pid) signalTree(w.pid, 'SIGCONT');
    for (const w of workers) w.kill('SIGKILL');
    await harness?.close();
  });

  it('cancels each circuit exactly once, and every job ends once', async () => {
    const circuits = Array.from({ length: 40 }, (_, i) => `EVO6${String(i).padStart(4, '0')}${(i % 6) + 1}`);
    const res = await harness.api('POST', '/jobs/bulk', { provider: 'evotel', action: 'cancellation', jobs: circuits.map((circuit_number) => ({ circuit_number })) });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    const ids: number[] = res.body.job_ids;

    workers.push(startWorkerProcess(harness, ['evotel'], WORKER_ENV));
    const first = workers[0]!;
    // Freeze the first (and so far only) worker with a job of its batch on the portal.
    await until(async () => (await harness.database.db.selectFrom('jobs').select('id').where('status', '=', 'completed').execute()).length >= 3 &&
      (await harness.database.db.selectFrom('jobs').select('id').where('status', '=', 'running').execute()).length > 0, 180_000, 'the first worker running a job');
    const frozen = signalTree(first.pid!, 'SIGSTOP');
    workers.push(startWorkerProcess(harness, ['evotel'], WORKER_ENV));
    // Longer than its lock: the other worker takes its batch meanwhile.
    await new Promise((r) => setTimeout(r, 2.5 * LOCK_MS));
    for (const pid of frozen) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // gone
      }
    }

    const jobs = await waitForJobs(harness, ids, 420_000);
    for (const job of jobs.values()) {
      expect(job.status, JSON.stringify(job.error)).to.equal('completed');
      expect(job.result).to.include({ cancelled: true, already_cancelled: false });
    }
    const stats = await harness.portal('evotel', 'GET', '/__sandbox/stats');
    expect(stats.duplicate_cancel_attempts, 'cancel forms sent for circuits already cancelled').to.equal(0);
    for (const circuit of circuits) expect(stats.cancellations[circuit], circuit).to.equal(1);
    await expectOneEndEach(harness.database.db, ids);
    // The frozen run was fenced: a batch was taken from it by a run with a higher token.
    const taken = await harness.database.db.selectFrom('batches').select(['id', 'run_token']).where('run_token', '>', 1).execute();
    expect(taken.length, 'batches taken over from the frozen worker').to.be.greaterThan(0);
    for (const w of workers) {
      w.kill('SIGTERM');
      await exited(w);
    }
  });
});
