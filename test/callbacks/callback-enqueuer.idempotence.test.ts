import { expect } from 'chai';
import { CallbackEnqueuer, callbackQueueJobId } from '../../src/callbacks/callback-enqueuer.js';
import { freePort } from '../../src/infra/free-port.js';
import { QueueRegistry } from '../../src/queues/queue-registry.js';
import { createValkey } from '../../src/queues/valkey.js';
import { testLogger, uniquePrefix } from '../support/shared-services.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { delivery, endedJob, finishedQueueJob, settled, startFixture } from './support/callback-fixture.js';
import { CallbackReceiver, waitFor } from './support/callback-receiver.js';

describe('callback enqueuer: enqueue twice = deliver once', () => {
  let database: TestDatabase;
  let receiver: CallbackReceiver;

  before(async () => {
    database = await createTestDatabase();
    receiver = await CallbackReceiver.start();
  });
  after(async () => {
    await receiver?.close();
    await database?.drop();
  });

  it('enqueueForJobs twice (and concurrently) delivers once', async () => {
    const db = database.db;
    const fixture = await startFixture(db);
    try {
      const { id } = await endedJob(db, receiver.url('/cb/twice'));
      await Promise.all([fixture.enqueuer.enqueueForJobs([id, id]), fixture.enqueuer.enqueueForJobs([id])]);
      await fixture.enqueuer.enqueueForJobs([id]);
      expect(await settled(db, id)).to.include({ state: 'delivered', attempts: 1 });
      await finishedQueueJob(fixture, id);
      // After delivery, another call neither re-queues nor re-sends.
      await fixture.enqueuer.enqueueForJobs([id]);
      const counts = await fixture.queues.callbacks().getJobCounts('waiting', 'delayed', 'active', 'completed', 'failed');
      expect(counts).to.include({ waiting: 0, delayed: 0, active: 0, completed: 1, failed: 0 });
      expect(receiver.requestsTo('/cb/twice')).to.have.length(1);
      const rows = await db.selectFrom('callback_deliveries').select('job_id').where('job_id', '=', id).execute();
      expect(rows).to.have.length(1);
    } finally {
      await fixture.close();
    }
  });
});

describe('callback enqueuer: Valkey unreachable when a job ends', () => {
  let database: TestDatabase;
  let receiver: CallbackReceiver;

  before(async () => {
    database = await createTestDatabase();
    receiver = await CallbackReceiver.start();
  });
  after(async () => {
    await receiver?.close();
    await database?.drop();
  });

  it('enqueueForJobs throws, the delivery stays pending in Postgres, and enqueuePending delivers it once later', async () => {
    const db = database.db;
    const { id } = await endedJob(db, receiver.url('/cb/later'));
    const deadValkey = createValkey(`redis://127.0.0.1:${await freePort()}`, 'producer');
    const deadQueues = new QueueRegistry(deadValkey, uniquePrefix('dead'));
    try {
      let thrown: unknown;
      try {
        await new CallbackEnqueuer(db, deadQueues, testLogger).enqueueForJobs([id], 1_000);
      } catch (err) {
        thrown = err;
      }
      expect(thrown, 'enqueue with Valkey down').to.be.instanceOf(Error);
    } finally {
      await deadQueues.close();
      deadValkey.disconnect();
    }
    expect(await delivery(db, id)).to.include({ state: 'pending', attempts: 0 });

    const fixture = await startFixture(db, { backoffBaseMs: 60_000 });
    try {
      const busy = await endedJob(db, receiver.url('/cb/busy-later'));
      receiver.answerWith((request) => ({ status: request.path === '/cb/busy-later' ? 503 : 200 }));
      await fixture.enqueuer.enqueueForJobs([busy.id]);
      await waitFor('busy job delayed', async () => ((await delivery(db, busy.id))?.attempts === 1 ? true : undefined));

      // Only the delivery whose queue job is missing is queued again; the delayed one is left alone.
      expect(await fixture.enqueuer.enqueuePending()).to.equal(1);
      expect(await settled(db, id)).to.include({ state: 'delivered', attempts: 1 });
      expect(await fixture.enqueuer.enqueuePending()).to.equal(0);
      expect(receiver.requestsTo('/cb/later')).to.have.length(1);
      expect(receiver.requestsTo('/cb/busy-later')).to.have.length(1);
      expect(await fixture.queues.callbacks().getJobState(callbackQueueJobId(busy.id))).to.equal('delayed');
    } finally {
      await fixture.close();
    }
  });
});
