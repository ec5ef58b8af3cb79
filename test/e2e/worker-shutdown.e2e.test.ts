import { expect } from 'chai';
import { sql } from 'kysely';
import type { ChildProcess } from 'node:child_process';
import { startSystemHarness, waitForJobs, type SystemHarness } from '../support/system-harness.js';
import { exited, startWorkerProcess, until } from '../support/worker-process.js';

const WORKER_ENV = { EVOTEL_MAX_SESSIONS: '1' };

describe('a worker stopped with SIGTERM mid-batch', function () {
  this.timeout(300_000);
  let harness: SystemHarness;
  let worker: ChildProcess | undefined;

  before(async () => {
    harness = await startSystemHarness({ RPA_ROLES: 'api,batcher,browser,portals', BATCH_SIZE: '10' });
    await harness.portal('evotel', 'POST', '/__sandbox/config', { latency_ms: 150 });
  });
  after(async () => {
    worker?.kill('SIGKILL');
    await harness?.close();
  });

  const count = async (table: 'jobs' | 'batches', statuses: string[]) => {
    const { rows } = await sql<{ n: string }>`select count(*) as n from ${sql.table(table)} where status = any(${statuses})`.execute(harness.database.db);
    return Number(rows[0]!.n);
  };

  it('finishes the batch in hand, takes no new one, exits 0; a new worker completes the rest', async () => {
    const circuits = Array.from({ length: 30 }, (_, i) => `EVO5${String(i).padStart(4, '0')}${(i % 6) + 1}`);
    const res = await harness.api('POST', '/jobs/bulk', { provider: 'evotel', action: 'validation', jobs: circuits.map((circuit_number) => ({ circuit_number })) });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    const ids: number[] = res.body.job_ids;

    worker = startWorkerProcess(harness, ['evotel'], WORKER_ENV);
    await until(async () => (await count('jobs', ['completed'])) >= 2, 120_000, 'a batch under way');
    worker.kill('SIGTERM');
    const code = await exited(worker);
    expect(code, 'exit code after SIGTERM').to.equal(0);

    // Nothing is left half-done: the batch in hand was finished or handed back, and no new one started.
    expect(await count('jobs', ['running']), 'jobs left running').to.equal(0);
    expect(await count('batches', ['in_progress']), 'batches left in progress').to.equal(0);
    expect(await count('jobs', ['completed']), 'jobs completed before exit').to.be.within(2, 29);

    worker = startWorkerProcess(harness, ['evotel'], WORKER_ENV);
    const jobs = await waitForJobs(harness, ids, 180_000);
    for (const job of jobs.values()) expect(job.status, JSON.stringify(job.error)).to.equal('completed');
    const events = await harness.database.db.selectFrom('job_events').select(['job_id']).where('to_status', '=', 'completed').execute();
    expect(events.length, 'each job completed once').to.equal(ids.length);
  });
});
