import { expect } from 'chai';
import { verifyCallbackSignature } from '../../src/callbacks/callback-signature.js';
import { CALLBACK_SECRET, startSystemHarness, type SystemHarness } from '../support/system-harness.js';
import { delivery, endedJob } from './support/callback-fixture.js';
import { CallbackReceiver, waitFor } from './support/callback-receiver.js';

describe('callback sweep in the running system', function () {
  this.timeout(120_000);
  let harness: SystemHarness;
  let receiver: CallbackReceiver;

  before(async () => {
    receiver = await CallbackReceiver.start();
    // Batcher and worker roles only; no batch runs here, so the pool URL is never called.
    harness = await startSystemHarness(
      { RPA_ROLES: 'batcher,worker', BROWSER_POOL_URL: 'http://127.0.0.1:9', BROWSER_POOL_TOKEN: 'unused-token-0123456789abcdef' },
      { callbackSweepMs: 300 },
    );
  });
  after(async () => {
    await harness?.close();
    await receiver?.close();
  });

  it('delivers the callback of a job that ended while its queue entry was never written', async () => {
    const db = harness.database.db;
    // What a job that ended while Valkey was down leaves behind: the delivery row, no queue job.
    const { id } = await endedJob(db, receiver.url('/cb/swept'));
    await db.insertInto('callback_deliveries').values({ job_id: id, url: receiver.url('/cb/swept') }).execute();

    const settled = await waitFor('the swept callback delivered', async () => {
      const row = await delivery(db, id);
      return row?.state === 'delivered' ? row : undefined;
    });
    expect(settled.attempts).to.equal(1);
    const [request] = receiver.requestsTo('/cb/swept');
    expect(request, 'the callback request').to.not.equal(undefined);
    expect(JSON.parse(request!.body).job_id).to.equal(Number(id));
    expect(verifyCallbackSignature(String(request!.headers['x-rpa-signature']), request!.body, CALLBACK_SECRET)).to.equal(true);

    // Later sweeps leave a delivered callback alone.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(receiver.requestsTo('/cb/swept')).to.have.length(1);
  });
});
