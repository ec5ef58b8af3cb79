import { expect } from 'chai';
import type { Redis } from 'iovalkey';
import { setTimeout as sleep } from 'node:timers/promises';
import { insertJobs } from '../../src/db/job-store.js';
import type { JobParameters } from '../../src/db/schema.js';
import { BatchFlowProducer } from '../../src/queues/batch-flow.js';
import { Batcher, type BatchSpread } from '../../src/queues/batcher.js';
import { JobEnqueuer } from '../../src/queues/job-enqueuer.js';
import { batchFlowJobIds } from '../../src/queues/queue-names.js';
import { QueueRegistry } from '../../src/queues/queue-registry.js';
import { createValkey } from '../../src/queues/valkey.js';
import { sharedValkey, testLogger, uniquePrefix } from '../support/shared-services.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

/** The batcher's grouping and flush, on a real Postgres and a real Valkey. */
describe('Batcher', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let redis: Redis;
  let prefix: string;
  let queues: QueueRegistry;
  let flows: BatchFlowProducer;
  let batcher: Batcher | undefined;
  let held = 0;
  let serial = 0;

  before(async () => {
    database = await createTestDatabase();
    redis = createValkey((await sharedValkey()).url, 'worker');
  });
  after(async () => {
    redis?.disconnect();
    await database?.drop();
  });
  beforeEach(async () => {
    prefix = uniquePrefix('batcher');
    queues = new QueueRegistry(redis, prefix);
    flows = new BatchFlowProducer(redis, prefix);
    held = 0;
    // Nothing runs the batches here: those an earlier test wrote would hold the provider's sessions.
    await database.db.updateTable('batches').set({ status: 'completed', finished_at: new Date() }).where('status', 'in', ['created', 'assigned', 'in_progress']).execute();
  });
  afterEach(async () => {
    await batcher?.close();
    batcher = undefined;
    await flows.close();
    await queues.close();
  });

  const start = async (batchSize: number, maxWaitMs: number, spread: { spread?: BatchSpread; maxSessions?: number } = {}) => {
    batcher = new Batcher({ provider: 'openserve', db: database.db, connection: redis, basePrefix: prefix, batchSize, maxWaitMs, ...spread, flows, heldUntil: async () => held, logger: testLogger, drainDelaySeconds: 1 });
    await batcher.start();
  };
  /** Jobs committed and enqueued as the API does it. */
  const submit = async (count: number, parameters: Partial<JobParameters> = {}) => {
    const ids = await insertJobs(
      database.db,
      Array.from({ length: count }, () => {
        const circuit_number = `OSN9${String(++serial).padStart(5, '0')}1`;
        return { provider: 'openserve', action: 'validation' as const, parameters: { circuit_number, ...parameters }, callbackUrl: null, externalId: null, requestHash: circuit_number, submittedBy: 'test', maxAttempts: 3 };
      }),
    );
    await new JobEnqueuer(database.db, queues, testLogger).enqueue(ids.map((id) => ({ id, provider: 'openserve', trip: 0 })));
    return ids;
  };
  const batchesOf = async (ids: string[]) => {
    const rows = await database.db.selectFrom('jobs').select(['id', 'batch_id']).where('id', 'in', ids).execute();
    const groups = new Map<string, string[]>();
    for (const r of rows) if (r.batch_id) groups.set(r.batch_id, [...(groups.get(r.batch_id) ?? []), r.id]);
    return groups;
  };
  const until = async (what: string, probe: () => Promise<boolean>) => {
    const deadline = Date.now() + 20_000;
    while (!(await probe())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(100);
    }
  };

  it('fill: groups waiting jobs into batches of at most BATCH_SIZE, one flow each, and completes their queue entries', async () => {
    const ids = await submit(7);
    await start(3, 300, { spread: 'fill' });
    await until('every job batched', async () => [...(await batchesOf(ids)).values()].flat().length === 7);
    const sizes = [...(await batchesOf(ids)).values()].map((g) => g.length).sort();
    expect(sizes).to.deep.equal([1, 3, 3]);
    for (const [batchId, members] of await batchesOf(ids)) {
      const run = await queues.batchRuns('openserve').getJob(batchFlowJobIds(batchId).run);
      expect(run?.name).to.equal(`batch ${batchId} · openserve · ${members.length} job${members.length === 1 ? '' : 's'}`);
      expect(run?.data).to.deep.equal({ batchId, provider: 'openserve' });
      expect(await queues.batches('openserve').getJobState(batchFlowJobIds(batchId).parent)).to.equal('waiting-children');
    }
    await until('queue entries completed', async () => (await queues.providerJobs('openserve').getJobCounts('completed')).completed === 7);
  });

  it('sessions: splits the waiting jobs over the free sessions, and cuts nothing more while none is free', async () => {
    const ids = await submit(7);
    // Nothing runs the batches here: the two it writes keep both sessions taken.
    await start(3, 300, { spread: 'sessions', maxSessions: 2 });
    await until('two batches', async () => (await batchesOf(ids)).size === 2);
    await sleep(1_500);
    const groups = await batchesOf(ids);
    expect([...groups.values()].map((g) => g.length)).to.deep.equal([3, 3]);
    const counts = await queues.providerJobs('openserve').getJobCounts('waiting', 'prioritized', 'completed');
    expect(counts.completed).to.equal(6);
    expect(counts.waiting + counts.prioritized, 'the seventh waits on the queue for a free session').to.equal(1);
    // A session comes free: the seventh gets its batch.
    await database.db.updateTable('batches').set({ status: 'completed', finished_at: new Date() }).where('id', '=', [...groups.keys()][0]!).execute();
    await until('the seventh batched', async () => [...(await batchesOf(ids)).values()].flat().length === 7);
    expect((await batchesOf(ids)).size).to.equal(3);
  });

  it('flushes a partial batch BATCH_MAX_WAIT_MS after its first job', async () => {
    await start(50, 1_500);
    const started = Date.now();
    const ids = await submit(2);
    await until('a batch', async () => (await batchesOf(ids)).size === 1);
    expect(Date.now() - started).to.be.at.least(1_400);
    expect([...(await batchesOf(ids)).values()][0]).to.have.members(ids);
  });

  for (const spread of ['fill', 'sessions'] as const) {
    it(`${spread}: takes the highest priority first, and gives the batch run its best job's priority`, async () => {
      held = Date.now() + 60_000;
      await start(2, 200, { spread, maxSessions: 2 });
      const low = await submit(2, { priority: 'low' });
      const high = await submit(2, { priority: 'high' });
      held = 0;
      await until('both batched', async () => (await batchesOf([...low, ...high])).size === 2);
      const [first, second] = [...(await batchesOf([...low, ...high])).entries()].sort((a, b) => Number(a[0]) - Number(b[0]));
      expect(first![1]).to.have.members(high);
      expect(second![1]).to.have.members(low);
      expect((await queues.batchRuns('openserve').getJob(batchFlowJobIds(first![0]).run))?.opts.priority).to.equal(1);
      expect((await queues.batchRuns('openserve').getJob(batchFlowJobIds(second![0]).run))?.opts.priority).to.equal(3);
    });

    it(`${spread}: puts back what it collected when the provider was held meanwhile, and batches it once released`, async () => {
      await start(50, 1_500, { spread, maxSessions: 2 });
      const ids = await submit(2);
      // Held while the partial batch waits for more jobs.
      await sleep(400);
      held = Date.now() + 60_000;
      await sleep(2_500);
      expect((await batchesOf(ids)).size).to.equal(0);
      expect((await queues.providerJobs('openserve').getJobCounts('delayed')).delayed).to.equal(2);
      held = 0;
      await until('batched once released', async () => [...(await batchesOf(ids)).values()].flat().length === 2);
    });
  }

  it('cuts no batch while its provider is held (paused or closed); the jobs wait on the queue', async () => {
    held = Date.now() + 60_000;
    await start(3, 200);
    const ids = await submit(3);
    await sleep(2_500);
    expect((await batchesOf(ids)).size).to.equal(0);
    const counts = await queues.providerJobs('openserve').getJobCounts('prioritized', 'delayed');
    expect(counts.prioritized + counts.delayed).to.equal(3);
    held = 0;
    await until('batched once released', async () => (await batchesOf(ids)).size === 1);
  });
});
