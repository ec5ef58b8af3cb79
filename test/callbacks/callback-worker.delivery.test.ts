import dc from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { expect } from 'chai';
import { callbackQueueJobId } from '../../src/callbacks/callback-enqueuer.js';
import { CALLBACK_RETRY, callbackBackoffDelay } from '../../src/callbacks/callback-retry-policy.js';
import { verifyCallbackSignature } from '../../src/callbacks/callback-signature.js';
import type { HostLookup } from '../../src/callbacks/callback-url-guard.js';
import type { Db } from '../../src/db/database.js';
import { freePort } from '../../src/infra/free-port.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { delivery, endedJob, finishedQueueJob, PUBLIC_BASE, SECRET, settled, startFixture, type Fixture } from './support/callback-fixture.js';
import { CallbackReceiver, waitFor } from './support/callback-receiver.js';

describe('callback worker: delivery to a real receiver', () => {
  let database: TestDatabase;
  let db: Db;
  let receiver: CallbackReceiver;
  let fixture: Fixture;
  let batchId: string;

  before(async () => {
    database = await createTestDatabase();
    db = database.db;
    receiver = await CallbackReceiver.start();
    fixture = await startFixture(db);
    batchId = (await db.insertInto('batches').values({ provider: 'octotel', size: 3, status: 'completed' }).returning('id').executeTakeFirstOrThrow()).id;
  });
  after(async () => {
    await fixture?.close();
    await receiver?.close();
    await database?.drop();
  });
  beforeEach(() => receiver.answerWith(() => ({ status: 200 })));

  it('delivers a completed job once, with the exact payload and a signature that verifies', async () => {
    const { id, completedAt } = await endedJob(db, receiver.url('/cb/completed'), {
      batchId,
      result: { valid: true, circuit_status: 'active' },
      evidence: [{ name: 'result-20261123T090000000Z.png', step: 'result', contentType: 'image/png', bytes: 1234, sha256: 'ab'.repeat(32), takenAt: new Date('2026-11-23T09:00:00.000Z'), key: 'jobs/x/result-20261123T090000000Z.png' }],
    });
    const head = (await db.selectFrom('jobs').select('audit_head').where('id', '=', id).executeTakeFirstOrThrow()).audit_head;
    expect(head).to.match(/^[0-9a-f]{64}$/);
    await fixture.enqueuer.enqueueForJobs([id]);
    const row = await settled(db, id);
    expect(row).to.include({ state: 'delivered', attempts: 1, last_status: 200, last_error: null, next_attempt_at: null });
    expect(row.delivered_at).to.be.instanceOf(Date);
    const { state } = await finishedQueueJob(fixture, id);
    expect(state).to.equal('completed');

    const requests = receiver.requestsTo('/cb/completed');
    expect(requests).to.have.length(1);
    const [request] = requests;
    expect(request!.method).to.equal('POST');
    expect(request!.headers['content-type']).to.equal('application/json');
    expect(request!.body).to.equal(
      JSON.stringify({
        job_id: Number(id),
        status: 'completed',
        result: { valid: true, circuit_status: 'active' },
        error: null,
        batch_id: Number(batchId),
        // Absolute URLs at PUBLIC_BASE_URL; no key, no path of the server.
        evidence: [
          {
            name: 'result-20261123T090000000Z.png',
            url: `${PUBLIC_BASE}/jobs/${id}/evidence/result-20261123T090000000Z.png`,
            sha256: 'ab'.repeat(32),
            content_type: 'image/png',
            bytes: 1234,
            taken_at: '2026-11-23T09:00:00.000Z',
            step: 'result',
          },
        ],
        audit_head: head,
        completed_at: completedAt.toISOString(),
      }),
    );
    const signature = String(request!.headers['x-rpa-signature']);
    expect(signature).to.match(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(Math.abs(Number(/t=(\d+)/.exec(signature)![1]) - Date.now() / 1000)).to.be.below(60);
    expect(verifyCallbackSignature(signature, request!.body, SECRET)).to.equal(true);
    expect(verifyCallbackSignature(signature, request!.body, 'another-secret')).to.equal(false);
    expect(verifyCallbackSignature(signature, request!.body.replace('"completed"', '"failed"'), SECRET)).to.equal(false);
  });

  it('calls back for failed and cancelled jobs; skips jobs still running and jobs without a callback_url', async () => {
    const failed = await endedJob(db, receiver.url('/cb/failed'), { status: 'failed', result: null, error: { code: 'INVALID_CIRCUIT', message: 'no such circuit' } });
    const cancelled = await endedJob(db, receiver.url('/cb/cancelled'), { status: 'cancelled', result: null, error: { code: 'WITHDRAWN', message: 'withdrawn by ops' } });
    const running = await endedJob(db, receiver.url('/cb/running'), { status: 'running', result: null });
    const silent = await endedJob(db, null);
    await fixture.enqueuer.enqueueForJobs([failed.id, cancelled.id, running.id, silent.id]);
    expect((await settled(db, failed.id)).state).to.equal('delivered');
    expect((await settled(db, cancelled.id)).state).to.equal('delivered');
    expect(await delivery(db, running.id)).to.equal(undefined);
    expect(await delivery(db, silent.id)).to.equal(undefined);
    expect(await fixture.queues.callbacks().getJob(callbackQueueJobId(running.id))).to.equal(undefined);

    const failedBody = JSON.parse(receiver.requestsTo('/cb/failed')[0]!.body);
    const failedHead = (await db.selectFrom('jobs').select('audit_head').where('id', '=', failed.id).executeTakeFirstOrThrow()).audit_head;
    expect(failedHead).to.match(/^[0-9a-f]{64}$/);
    expect(failedBody).to.deep.equal({
      job_id: Number(failed.id), status: 'failed', result: null, error: { code: 'INVALID_CIRCUIT', message: 'no such circuit' },
      batch_id: null, evidence: [], audit_head: failedHead, completed_at: failed.completedAt.toISOString(),
    });
    expect(JSON.parse(receiver.requestsTo('/cb/cancelled')[0]!.body)).to.include({ status: 'cancelled', job_id: Number(cancelled.id) });
    expect(receiver.requestsTo('/cb/running')).to.have.length(0);
  });

  it('retries 500, 500 and records delivery on attempt 3 with attempts = 3', async () => {
    receiver.answerWith((request) => ({ status: receiver.requestsTo(request.path).length <= 2 ? 500 : 200 }));
    const { id } = await endedJob(db, receiver.url('/cb/flaky'));
    await fixture.enqueuer.enqueueForJobs([id]);
    const row = await settled(db, id);
    expect(row).to.include({ state: 'delivered', attempts: 3, last_status: 200, last_error: null });
    const { job, state } = await finishedQueueJob(fixture, id);
    expect(state).to.equal('completed');
    expect(job.attemptsMade).to.equal(3);
    const requests = receiver.requestsTo('/cb/flaky');
    expect(requests).to.have.length(3);
    // Every attempt carries the same body, freshly signed.
    expect(new Set(requests.map((r) => r.body)).size).to.equal(1);
    for (const r of requests) expect(verifyCallbackSignature(String(r.headers['x-rpa-signature']), r.body, SECRET)).to.equal(true);
  });

  it('retries 429 and 408 (busy, timed out) like a 5xx, and delivers on attempt 3', async () => {
    receiver.answerWith((request) => ({ status: [429, 408][receiver.requestsTo(request.path).length - 1] ?? 200 }));
    const { id } = await endedJob(db, receiver.url('/cb/busy'));
    await fixture.enqueuer.enqueueForJobs([id]);
    expect(await settled(db, id)).to.include({ state: 'delivered', attempts: 3, last_status: 200 });
    expect(receiver.requestsTo('/cb/busy')).to.have.length(3);
  });

  it('a 404 is final: failed after one attempt, not retried', async () => {
    receiver.answerWith(() => ({ status: 404 }));
    const { id } = await endedJob(db, receiver.url('/cb/missing'));
    await fixture.enqueuer.enqueueForJobs([id]);
    const row = await settled(db, id);
    expect(row).to.include({ state: 'failed', attempts: 1, last_status: 404, next_attempt_at: null });
    expect(row.last_error).to.include('404');
    expect(row.delivered_at).to.equal(null);
    const { job, state } = await finishedQueueJob(fixture, id);
    expect(state).to.equal('failed');
    expect(job.attemptsMade).to.equal(1);
    expect(job.opts.attempts).to.equal(CALLBACK_RETRY.attempts);
    expect(receiver.requestsTo('/cb/missing')).to.have.length(1);
  });

  it('does not follow a redirect: a 3xx is a final failure and the Location is never requested', async () => {
    receiver.answerWith((request) =>
      request.path === '/cb/moved' ? { status: 302, headers: { location: receiver.url('/cb/redirect-target') } } : { status: 200 },
    );
    const { id } = await endedJob(db, receiver.url('/cb/moved'));
    await fixture.enqueuer.enqueueForJobs([id]);
    const row = await settled(db, id);
    expect(row).to.include({ state: 'failed', attempts: 1, last_status: 302 });
    expect(row.last_error).to.include('redirects are not followed');
    expect((await finishedQueueJob(fixture, id)).state).to.equal('failed');
    expect(receiver.requestsTo('/cb/moved')).to.have.length(1);
    expect(receiver.requestsTo('/cb/redirect-target')).to.have.length(0);
  });

  it('refuses a forbidden URL before any connection: state refused, no retry, no request started', async () => {
    const started: string[] = [];
    const onStart = (message: unknown) => started.push(String((message as { request: ClientRequest }).request.host));
    dc.subscribe('http.client.request.start', onStart);
    try {
      const { id } = await endedJob(db, 'http://10.0.0.1/cb');
      const mapped = await endedJob(db, 'http://[::ffff:169.254.169.254]/latest/meta-data');
      await fixture.enqueuer.enqueueForJobs([id, mapped.id]);
      for (const jobId of [id, mapped.id]) {
        const row = await settled(db, jobId);
        expect(row).to.include({ state: 'refused', attempts: 0, last_status: null, delivered_at: null });
        expect(row.last_error).to.match(/loopback, private, link-local/);
        const { job, state } = await finishedQueueJob(fixture, jobId);
        expect(state).to.equal('failed');
        expect(job.attemptsMade).to.equal(1);
      }
    } finally {
      dc.unsubscribe('http.client.request.start', onStart);
    }
    expect(started).to.deep.equal([]);
  });

  it('a host unreachable on every attempt ends failed after CALLBACK_RETRY.attempts, with the network error recorded', async () => {
    const closedPort = await freePort();
    const { id } = await endedJob(db, `http://127.0.0.1:${closedPort}/cb`);
    const quick = await startFixture(db, { backoffBaseMs: 5 });
    try {
      await quick.enqueuer.enqueueForJobs([id]);
      const row = await waitFor('ten attempts', async () => {
        const r = await delivery(db, id);
        return r && r.state !== 'pending' ? r : undefined;
      }, 40_000);
      expect(row).to.include({ state: 'failed', attempts: CALLBACK_RETRY.attempts, last_status: null, next_attempt_at: null });
      expect(row.last_error).to.include('ECONNREFUSED');
      const { job, state } = await finishedQueueJob(quick, id);
      expect(state).to.equal('failed');
      expect(job.attemptsMade).to.equal(CALLBACK_RETRY.attempts);
    } finally {
      await quick.close();
    }
  });

  it('a receiver that never answers times out, and the attempt is retried later', async () => {
    receiver.answerWith(() => 'hang');
    const patient = await startFixture(db, { backoffBaseMs: 60_000, requestTimeoutMs: 300 });
    try {
      const { id } = await endedJob(db, receiver.url('/cb/hang'));
      await patient.enqueuer.enqueueForJobs([id]);
      const row = await waitFor('first attempt recorded', async () => {
        const r = await delivery(db, id);
        return r && r.attempts === 1 ? r : undefined;
      });
      expect(row).to.include({ state: 'pending', last_status: null });
      expect(row.last_error).to.include('timed out after 300 ms');
      expect(row.next_attempt_at).to.be.instanceOf(Date);
      expect(receiver.requestsTo('/cb/hang')).to.have.length(1);
    } finally {
      await patient.close();
    }
  });

  it('records next_attempt_at, and BullMQ waits exactly the delay the row shows', async () => {
    receiver.answerWith(() => ({ status: 503 }));
    const slow = await startFixture(db, { backoffBaseMs: 60_000 });
    try {
      const { id } = await endedJob(db, receiver.url('/cb/busy'));
      const before = Date.now();
      await slow.enqueuer.enqueueForJobs([id]);
      const row = await waitFor('first attempt recorded', async () => {
        const r = await delivery(db, id);
        return r && r.attempts === 1 ? r : undefined;
      });
      expect(row).to.include({ state: 'pending', last_status: 503 });
      const expected = callbackBackoffDelay(1, callbackQueueJobId(id), 60_000);
      expect(expected).to.be.within(48_000, 60_000);
      const job = await waitFor('job delayed', async () => {
        const j = await slow.queues.callbacks().getJob(callbackQueueJobId(id));
        return j && (await j.getState()) === 'delayed' ? j : undefined;
      });
      expect(job.delay).to.equal(expected);
      expect(row.next_attempt_at!.getTime()).to.be.within(before + expected, Date.now() + expected);
    } finally {
      await slow.close();
    }
  });
});

describe('callback worker: allow-list and DNS', () => {
  let database: TestDatabase;
  let db: Db;
  let receiver: CallbackReceiver;

  before(async () => {
    database = await createTestDatabase();
    db = database.db;
    receiver = await CallbackReceiver.start();
  });
  after(async () => {
    await receiver?.close();
    await database?.drop();
  });

  it('without CALLBACK_ALLOW_HOSTS, 127.0.0.1 is refused and never contacted; with it, delivered', async () => {
    const strict = await startFixture(db, { allowHosts: [] });
    try {
      const { id } = await endedJob(db, receiver.url('/cb/strict'));
      await strict.enqueuer.enqueueForJobs([id]);
      expect(await settled(db, id)).to.include({ state: 'refused', attempts: 0 });
    } finally {
      await strict.close();
    }
    const lenient = await startFixture(db, { allowHosts: ['127.0.0.1:*'] });
    try {
      const { id } = await endedJob(db, receiver.url('/cb/lenient'));
      await lenient.enqueuer.enqueueForJobs([id]);
      expect(await settled(db, id)).to.include({ state: 'delivered', attempts: 1 });
    } finally {
      await lenient.close();
    }
    expect(receiver.requestsTo('/cb/strict')).to.have.length(0);
    expect(receiver.requestsTo('/cb/lenient')).to.have.length(1);
  });

  it('connects to the address it checked (one lookup), keeping the name in the Host header', async () => {
    const lookups: string[] = [];
    const lookup: HostLookup = async (host) => {
      lookups.push(host);
      if (host === 'ords.example.com') return [{ address: '127.0.0.1', family: 4 }];
      if (host === 'metadata.example.com') return [{ address: '169.254.169.254', family: 4 }];
      throw new Error(`getaddrinfo ENOTFOUND ${host}`);
    };
    const fixture = await startFixture(db, { allowHosts: [`ords.example.com:${receiver.port}`], lookup });
    try {
      const named = await endedJob(db, `http://ords.example.com:${receiver.port}/cb/named`);
      const metadata = await endedJob(db, `http://metadata.example.com/cb/metadata`);
      await fixture.enqueuer.enqueueForJobs([named.id, metadata.id]);
      expect(await settled(db, named.id)).to.include({ state: 'delivered', attempts: 1 });
      const refused = await settled(db, metadata.id);
      expect(refused).to.include({ state: 'refused', attempts: 0 });
      expect(refused.last_error).to.include('resolves to a loopback, private, link-local or other internal address');
      expect(refused.last_error).to.not.include('169.254');
      const [request] = receiver.requestsTo('/cb/named');
      expect(request!.headers.host).to.equal(`ords.example.com:${receiver.port}`);
      expect(lookups.filter((h) => h === 'ords.example.com')).to.have.length(1);
      expect(receiver.requestsTo('/cb/metadata')).to.have.length(0);
    } finally {
      await fixture.close();
    }
  });
});
