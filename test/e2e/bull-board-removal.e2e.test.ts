import type { ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import { batchFlowJobIds } from '../../src/queues/queue-names.js';
import { expectOneEndEach } from '../support/exactly-once.js';
import { SYSTEM_API_KEY, startSystemHarness, waitForJobs, type SystemHarness } from '../support/system-harness.js';
import { exited, startWorkerProcess, until } from '../support/worker-process.js';

const LOCK_MS = 3_000;
// One session: the eight jobs are one batch. With two, the batch read as in progress could be the
// one that had just run all its jobs (still open until its flow's parent closes it), and its
// removal then ended it completed.
const ONE_BATCH = { EVOTEL_MAX_SESSIONS: '1' };
const WORKER_ENV = { BATCH_LOCK_DURATION_MS: String(LOCK_MS), ...ONE_BATCH };

/**
 * An operator removes a batch's run job through Bull Board mid-batch (its worker died and left
 * it "active"): nothing would ever run or finalise that batch. The reaper settles it once, its
 * jobs go back to waiting, and each of them ends once.
 */
describe('a batch-run job removed through Bull Board mid-batch', function () {
  this.timeout(600_000);
  let harness: SystemHarness;
  let worker: ChildProcess | undefined;

  before(async () => {
    harness = await startSystemHarness({ RPA_ROLES: 'api,batcher,browser,portals', BATCH_SIZE: '8', BATCH_LOCK_DURATION_MS: String(LOCK_MS), ...ONE_BATCH });
    await harness.portal('evotel', 'POST', '/__sandbox/config', { latency_ms: 200 });
  });
  after(async () => {
    worker?.kill('SIGKILL');
    await harness?.close();
  });

  it('recovers its jobs, and every job ends once', async () => {
    const circuits = Array.from({ length: 8 }, (_, i) => `EVO82${String(i).padStart(3, '0')}${(i % 6) + 1}`);
    const res = await harness.api('POST', '/jobs/bulk', { provider: 'evotel', action: 'cancellation', jobs: circuits.map((circuit_number) => ({ circuit_number })) });
    expect(res.status).to.equal(202);
    const ids: number[] = res.body.job_ids;

    worker = startWorkerProcess(harness, ['evotel'], WORKER_ENV);
    await until(async () => (await harness.database.db.selectFrom('jobs').select('id').where('status', '=', 'completed').execute()).length >= 2, 180_000, 'two jobs done');
    worker.kill('SIGKILL');
    await exited(worker);
    worker = undefined;
    const batches = await harness.database.db.selectFrom('batches').select(['id', 'status', 'size', 'completed_count']).execute();
    expect(batches, 'one batch, killed with jobs still to run').to.have.length(1);
    const batch = batches[0]!;
    expect(batch.status).to.equal('in_progress');
    expect(batch.completed_count).to.be.below(batch.size);
    // Its lock runs out; nobody is left to see the job stalled: it stays "active" in the board.
    await new Promise((r) => setTimeout(r, 2 * LOCK_MS));
    const queue = `batch-run-evotel`;
    const jobId = batchFlowJobIds(batch.id).run;
    const removed = await fetch(`${harness.system.apiUrl}/admin/queues/api/queues/${queue}/${jobId}/clean`, { method: 'PUT', headers: { authorization: `Bearer ${SYSTEM_API_KEY}` } });
    expect(removed.status, await removed.text()).to.be.within(200, 299);
    expect(await harness.system.queues!.batchRuns('evotel').getJobState(jobId)).to.equal('unknown');

    worker = startWorkerProcess(harness, ['evotel'], WORKER_ENV);
    const jobs = await waitForJobs(harness, ids, 300_000);
    for (const job of jobs.values()) {
      expect(job.status, JSON.stringify(job.error)).to.equal('completed');
      expect(job.result).to.include({ cancelled: true, already_cancelled: false });
    }
    const stats = await harness.portal('evotel', 'GET', '/__sandbox/stats');
    expect(stats.duplicate_cancel_attempts).to.equal(0);
    for (const c of circuits) expect(stats.cancellations[c], c).to.equal(1);
    await expectOneEndEach(harness.database.db, ids);
    const settled = await harness.database.db.selectFrom('batches').select(['status', 'error']).where('id', '=', batch.id).executeTakeFirstOrThrow();
    expect(settled.status).to.equal('failed');
    // Settled once, by whichever saw it first: the reaper (no live run), or the flow's parent,
    // which BullMQ may run once its only child is gone.
    expect(settled.error?.message).to.match(/no live run|jobs left unfinished/);
    const events = await harness.database.db.selectFrom('job_events').select('cause').where('batch_id', '=', batch.id).where('actor', 'in', ['batch-reaper', 'batch-finalizer']).execute();
    expect(events.length, 'jobs handed back by the settlement').to.be.greaterThan(0);
    worker.kill('SIGTERM');
    await exited(worker);
    worker = undefined;
  });
});
