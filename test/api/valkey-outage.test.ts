import { expect } from 'chai';
import { Worker, type ConnectionOptions } from 'bullmq';
import { Sweeper } from '../../src/queues/sweeper.js';
import { createValkey } from '../../src/queues/valkey.js';
import { startApiHarness, type ApiHarness } from '../support/api-harness.js';
import { privateValkey, testLogger } from '../support/shared-services.js';
import type { EmbeddedValkeyHandle } from '../../src/infra/embedded-valkey.js';

async function reconnected(api: ApiHarness): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (api.valkey.status !== 'ready') {
    if (Date.now() > deadline) throw new Error('Valkey client did not reconnect');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('submitting while Valkey is down', () => {
  let valkey: EmbeddedValkeyHandle;
  let api: ApiHarness;
  before(async () => {
    valkey = await privateValkey();
    api = await startApiHarness({ valkeyUrl: valkey.url });
  });
  after(async () => {
    await api.close();
    await valkey.stop();
  });

  it('answers 202, keeps the job in Postgres, and the sweeper enqueues it exactly once when Valkey is back', async function () {
    this.timeout(60_000);
    await valkey.stop();
    const res = await api.call('POST', '/jobs', { body: { provider: 'octotel', action: 'validation', circuit_number: 'OCT555551' } });
    expect(res.status).to.equal(202);
    const id = String(res.body.job_id);
    const row = await api.database.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(row.status).to.equal('pending');
    expect(row.enqueued_at).to.equal(null);
    // Valkey is not the truth: the API stays ready (it still takes jobs), and says Valkey is down.
    const ready = await api.call('GET', '/health/ready', { key: null });
    expect(ready.status).to.equal(200);
    expect(ready.body.valkey.ok).to.equal(false);

    await valkey.restart();
    await reconnected(api);
    const sweeper = new Sweeper(api.database.db, api.queues, api.enqueuer, testLogger, { recheckAfterMs: 0 });
    const first = await sweeper.sweep();
    expect(first.enqueued).to.equal(1);
    // Sweeping again, and enqueueing the same job directly, add nothing.
    const second = await sweeper.sweep();
    expect(second).to.deep.equal({ enqueued: 0, restored: 0 });
    await api.enqueuer.enqueue([{ id, provider: 'octotel', trip: 0 }]);
    const queue = api.queues.providerJobs('octotel');
    const counts = await queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active');
    expect(counts.waiting + counts.prioritized + counts.delayed + counts.active).to.equal(1);
    expect((await queue.getJob(`job-${id}-t0`))?.data).to.deep.equal({ jobId: id, trip: 0, action: 'validation', circuit: 'OCT555551', priority: 'normal' });
    await sweeper.close();
  });

  it('restores jobs whose queue entries vanished (a wiped Valkey)', async () => {
    const res = await api.call('POST', '/jobs', { body: { provider: 'evotel', action: 'validation', circuit_number: 'EVO555551' } });
    const id = String(res.body.job_id);
    await api.valkey.flushall();
    const sweeper = new Sweeper(api.database.db, api.queues, api.enqueuer, testLogger, { recheckAfterMs: 0 });
    const result = await sweeper.sweep();
    expect(result.restored).to.be.greaterThanOrEqual(1);
    expect(await api.queues.providerJobs('evotel').getJobState(`job-${id}-t0`)).to.equal('prioritized');
    await sweeper.close();
  });

  it('restores a job whose queue entry BullMQ failed while the job still waits for a batch', async () => {
    const res = await api.call('POST', '/jobs', { body: { provider: 'openserve', action: 'validation', circuit_number: 'OSN5555551' } });
    expect(res.status).to.equal(202);
    const id = String(res.body.job_id);
    const queue = api.queues.providerJobs('openserve');
    const entryId = `job-${id}-t0`;
    // As a batcher would take it, then BullMQ fails it (what its stall limit does to an entry).
    const connection = createValkey(valkey.url, 'worker');
    const worker = new Worker(queue.name, null, { connection: connection as unknown as ConnectionOptions, prefix: queue.opts.prefix, autorun: false });
    try {
      const entry = await worker.getNextJob('token');
      expect(entry?.id).to.equal(entryId);
      await entry!.moveToFailed(new Error('job stalled more than allowable limit'), 'token', false);
    } finally {
      await worker.close();
      connection.disconnect();
    }
    expect(await queue.getJobState(entryId)).to.equal('failed');
    const sweeper = new Sweeper(api.database.db, api.queues, api.enqueuer, testLogger, { recheckAfterMs: 0 });
    const result = await sweeper.sweep();
    expect(result.restored).to.equal(1);
    expect(await queue.getJobState(entryId)).to.equal('prioritized');
    expect((await sweeper.sweep()).restored).to.equal(0);
    await sweeper.close();
  });
});
