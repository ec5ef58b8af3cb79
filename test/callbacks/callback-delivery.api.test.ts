import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import type { Redis } from 'iovalkey';
import { createApiApp } from '../../src/api/api-app.js';
import { CallbackEnqueuer } from '../../src/callbacks/callback-enqueuer.js';
import { startCallbackWorker, type CallbackWorkerHandle } from '../../src/callbacks/callback-worker.js';
import { verifyCallbackSignature } from '../../src/callbacks/callback-signature.js';
import { JobSubmission } from '../../src/jobs/job-submission.js';
import { JobEnqueuer } from '../../src/queues/job-enqueuer.js';
import { QueueRegistry } from '../../src/queues/queue-registry.js';
import { createValkey } from '../../src/queues/valkey.js';
import { sharedValkey, testLogger, uniquePrefix } from '../support/shared-services.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { SECRET, settled } from './support/callback-fixture.js';
import { createApiKey } from '../../src/api/auth/api-key.js';
import { genericDeliveryError } from '../../src/api/job-view.js';
import { freePort } from '../../src/infra/free-port.js';
import { startApiHarness, type ApiHarness } from '../support/api-harness.js';
import { CallbackReceiver, waitFor } from './support/callback-receiver.js';

const KEY = 'callback-api-test-admin-key-0123456789';

/** The API wired as src/system.ts wires it: a withdrawal queues the job's callback. */
describe('callbacks seen through the API: withdraw → signed callback → GET /jobs/:id', () => {
  let database: TestDatabase;
  let receiver: CallbackReceiver;
  let producer: Redis;
  let workerConnection: Redis;
  let queues: QueueRegistry;
  let worker: CallbackWorkerHandle;
  let server: Server;
  let base: string;

  before(async () => {
    database = await createTestDatabase();
    receiver = await CallbackReceiver.start();
    const { url } = await sharedValkey();
    producer = createValkey(url, 'producer');
    workerConnection = createValkey(url, 'worker');
    await waitFor('valkey ready', async () => (producer.status === 'ready' && workerConnection.status === 'ready' ? true : undefined));
    const prefix = uniquePrefix('cb-api');
    queues = new QueueRegistry(producer, prefix);
    const callbacks = new CallbackEnqueuer(database.db, queues, testLogger);
    worker = startCallbackWorker({ db: database.db, connection: workerConnection, basePrefix: prefix, secret: SECRET, allowHosts: ['127.0.0.1:*'], logger: testLogger, backoffBaseMs: 60_000, publicBaseUrl: 'http://127.0.0.1:8620' });
    const app = createApiApp({
      db: database.db,
      bootstrapKey: KEY,
      submission: new JobSubmission(database.db, new JobEnqueuer(database.db, queues, testLogger), 3, testLogger),
      callbackPolicy: { allowHosts: ['127.0.0.1:*'] },
      onJobWithdrawn: (id) => callbacks.enqueueForJobs([id]),
      health: { db: database.db, valkey: producer, queues },
      logger: testLogger,
    });
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await worker?.close();
    await queues?.close();
    producer?.disconnect();
    workerConnection?.disconnect();
    await receiver?.close();
    await database?.drop();
  });

  async function call(method: string, path: string, body?: unknown, key = KEY) {
    const res = await fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  }

  it('a withdrawn job is called back as cancelled, and GET /jobs/:id shows the delivery', async () => {
    const submitted = await call('POST', '/jobs', { provider: 'octotel', action: 'validation', circuit_number: 'OCT123451', callback_url: receiver.url('/cb/withdrawn') });
    expect(submitted.status).to.equal(202);
    const id: number = submitted.body.job_id;
    expect((await call('GET', `/jobs/${id}`)).body.callback).to.equal(null);

    expect((await call('POST', `/jobs/${id}/cancel`)).status).to.be.oneOf([200, 202]);
    await settled(database.db, String(id));

    const [request] = receiver.requestsTo('/cb/withdrawn');
    expect(verifyCallbackSignature(String(request!.headers['x-rpa-signature']), request!.body, SECRET)).to.equal(true);
    const payload = JSON.parse(request!.body);
    expect(payload).to.include({ job_id: id, status: 'cancelled', result: null, batch_id: null });
    expect(payload.error.code).to.equal('WITHDRAWN');

    const view = await call('GET', `/jobs/${id}`);
    expect(view.body.status).to.equal('cancelled');
    expect(view.body.callback).to.include({ state: 'delivered', attempts: 1, last_status: 200, last_error: null, next_attempt_at: null });
    expect(Date.parse(view.body.callback.delivered_at)).to.be.closeTo(Date.now(), 60_000);
  });

  it('a delivery waiting for its next attempt shows next_attempt_at', async () => {
    receiver.answerWith(() => ({ status: 503 }));
    const submitted = await call('POST', '/jobs', { provider: 'octotel', action: 'validation', circuit_number: 'OCT123452', callback_url: receiver.url('/cb/busy') });
    const id: number = submitted.body.job_id;
    await call('POST', `/jobs/${id}/cancel`);
    const view = await waitFor('first attempt visible', async () => {
      const v = await call('GET', `/jobs/${id}`);
      return v.body.callback?.attempts === 1 ? v : undefined;
    });
    expect(view.body.callback).to.include({ state: 'pending', last_status: 503, last_error: 'receiver answered 503' });
    expect(Date.parse(view.body.callback.next_attempt_at) - Date.now()).to.be.within(30_000, 60_000);
  });

  it('shows a submitter a generic delivery error (no port-probe oracle); the staff roles see what the worker saw', async () => {
    const submitter = (await createApiKey(database.db, 'ords', 'submitter')).key;
    const viewer = (await createApiKey(database.db, 'staff', 'viewer')).key;
    // A port where nothing listens: the worker's error is `connect ECONNREFUSED 127.0.0.1:<port>`.
    const closed = await freePort();
    const submitted = await call('POST', '/jobs', { provider: 'octotel', action: 'validation', circuit_number: 'OCT123453', callback_url: `http://127.0.0.1:${closed}/cb` }, submitter);
    expect(submitted.status).to.equal(202);
    const id: number = submitted.body.job_id;
    expect((await call('POST', `/jobs/${id}/cancel`, undefined, submitter)).status).to.equal(200);
    const staff = await waitFor('first attempt visible', async () => {
      const v = await call('GET', `/jobs/${id}`, undefined, viewer);
      return v.body.callback?.attempts === 1 ? v : undefined;
    });
    expect(staff.body.callback.last_error).to.match(/ECONNREFUSED|connect/);
    const own = await call('GET', `/jobs/${id}`, undefined, submitter);
    expect(own.body.callback).to.include({ state: 'pending', attempts: 1, last_error: genericDeliveryError('pending') });
    // (The callback_url is the submitter's own; what answered, or did not, on that port is not.)
    expect(JSON.stringify(own.body)).to.not.match(/ECONNREFUSED|connect /);
    expect(own.body.callback.last_error).to.not.contain(String(closed));
    const listed = await call('GET', '/jobs?limit=5', undefined, submitter);
    expect(JSON.stringify(listed.body)).to.not.match(/ECONNREFUSED/);
  });
});

describe('callback ports at submission (CALLBACK_ALLOW_PORTS)', () => {
  let api: ApiHarness;
  before(async () => {
    api = await startApiHarness({ callbackAllowHosts: ['127.0.0.1', 'ords.internal:8443'] });
  });
  after(async () => api.close());

  it('refuses any port but 80, 443 and those CALLBACK_ALLOW_HOSTS names per host, on allowed hosts too', async () => {
    const job = { provider: 'octotel', action: 'validation', circuit_number: 'OCT123451' };
    for (const url of ['http://127.0.0.1:22/cb', 'http://127.0.0.1:5432/cb', 'https://ords.example.com:6379/cb', 'http://ords.internal:22/cb', 'https://ords.example.com:8443/cb']) {
      const res = await api.call('POST', '/jobs', { body: { ...job, callback_url: url } });
      expect(res.status, url).to.equal(400);
      expect(res.body.error.field).to.equal('callback_url');
      expect(res.body.error.message).to.match(/port \d+ is not allowed/);
    }
    for (const url of ['http://127.0.0.1/cb', 'https://ords.example.com/cb', 'https://ords.internal:8443/cb', 'http://ords.example.com:80/cb']) {
      expect((await api.call('POST', '/jobs', { body: { ...job, callback_url: url } })).status, url).to.equal(202);
    }
  });
});
