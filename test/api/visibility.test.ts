import { expect } from 'chai';
import { createApiKey } from '../../src/api/auth/api-key.js';
import { OPERATOR_BOOTSTRAP_KEY, startOperatorHarness, type OperatorHarness } from '../support/operator-harness.js';

/** OWASP API1 (broken object-level authorization): a submitter sees and withdraws only what its own key created. */
describe('per-key visibility', () => {
  let h: OperatorHarness;
  let alice: string;
  let bob: string;
  let viewer: string;
  let aliceJobs: number[];
  let bobJob: number;
  before(async () => {
    h = await startOperatorHarness();
    alice = (await createApiKey(h.database.db, 'ords-alice', 'submitter')).key;
    bob = (await createApiKey(h.database.db, 'ords-bob', 'submitter')).key;
    viewer = await h.keyFor('viewer');
    const bulk = await call('POST', '/jobs/bulk', alice, { provider: 'evotel', action: 'validation', jobs: [{ circuit_number: 'EVO300001' }, { circuit_number: 'EVO300002' }] });
    aliceJobs = bulk.body.job_ids;
    bobJob = (await call('POST', '/jobs', bob, { provider: 'evotel', action: 'validation', circuit_number: 'EVO300003' })).body.job_id;
  });
  after(async () => h.close());

  async function call(method: string, path: string, key: string, body?: unknown): Promise<{ status: number; body: any }> {
    const res = await fetch(h.url + path, { method, headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: await res.json().catch(() => null) };
  }

  it('GET /jobs lists a submitter\'s own jobs only, whatever the filters; a viewer lists all', async () => {
    const mine = await call('GET', '/jobs?provider=evotel', alice);
    expect(mine.body.jobs.map((j: { job_id: number }) => j.job_id).sort()).to.deep.equal([...aliceJobs].sort());
    expect((await call('GET', '/jobs?status=pending&limit=500', bob)).body.jobs.map((j: { job_id: number }) => j.job_id)).to.deep.equal([bobJob]);
    const all = await call('GET', '/jobs', viewer);
    expect(all.body.jobs.map((j: { job_id: number }) => j.job_id)).to.include.members([...aliceJobs, bobJob]);
  });

  it('GET /jobs/:id and /jobs/:id/events: another key\'s job is 404, as if it did not exist', async () => {
    expect((await call('GET', `/jobs/${aliceJobs[0]}`, alice)).status).to.equal(200);
    const hidden = await call('GET', `/jobs/${aliceJobs[0]}`, bob);
    expect(hidden.status).to.equal(404);
    expect(hidden.body.error.message).to.equal(`job ${aliceJobs[0]} does not exist`);
    // The same answer as for an id never used: nothing to learn from guessing ids.
    const missing = await call('GET', '/jobs/987654', bob);
    expect(missing.status).to.equal(404);
    expect(hidden.body.error).to.deep.equal({ ...missing.body.error, message: `job ${aliceJobs[0]} does not exist` });
    expect((await call('GET', `/jobs/${aliceJobs[0]}/events`, bob)).status).to.equal(404);
    expect((await call('GET', `/jobs/${aliceJobs[0]}/events`, alice)).body.events).to.have.length(1);
    for (const key of [viewer, await h.keyFor('operator'), OPERATOR_BOOTSTRAP_KEY]) {
      expect((await call('GET', `/jobs/${aliceJobs[0]}`, key)).status).to.equal(200);
      expect((await call('GET', `/jobs/${bobJob}/events`, key)).status).to.equal(200);
    }
  });

  it('POST /jobs/:id/cancel: a submitter withdraws its own pending job, and another key\'s is 404 and stays pending', async () => {
    const stolen = await call('POST', `/jobs/${bobJob}/cancel`, alice);
    expect(stolen.status).to.equal(404);
    expect((await call('GET', `/jobs/${bobJob}`, bob)).body.status).to.equal('pending');
    const own = await call('POST', `/jobs/${aliceJobs[1]}/cancel`, alice);
    expect(own.status).to.equal(200);
    expect(own.body.status).to.equal('cancelled');
    const events = await h.database.db.selectFrom('job_events').select(['to_status', 'actor']).where('job_id', '=', String(aliceJobs[1])).orderBy('id').execute();
    expect(events.at(-1)).to.deep.equal({ to_status: 'cancelled', actor: 'ords-alice' });
    // A viewer withdraws nothing.
    expect((await call('POST', `/jobs/${bobJob}/cancel`, viewer)).status).to.equal(403);
  });

  it('/batches stay out of a submitter\'s reach (they hold every key\'s jobs); a job shows its own batch_id', async () => {
    for (const path of ['/batches', '/batches/active', '/batches/1']) expect((await call('GET', path, alice)).status, path).to.equal(403);
    expect((await call('GET', '/batches', viewer)).status).to.equal(200);
    expect((await call('GET', `/jobs/${aliceJobs[0]}`, alice)).body).to.have.property('batch_id');
  });

  it('GET /schedules lists only the schedules a submitter\'s key created (none: creating one is for operators)', async () => {
    const created = await call('POST', '/schedules', OPERATOR_BOOTSTRAP_KEY, { name: 'nightly', cron: '0 2 * * *', provider: 'evotel', action: 'validation', jobs: [{ circuit_number: 'EVO300009' }] });
    expect(created.status).to.equal(201);
    expect((await call('GET', '/schedules', viewer)).body.schedules.map((s: { name: string }) => s.name)).to.deep.equal(['nightly']);
    expect((await call('GET', '/schedules', alice)).body.schedules).to.deep.equal([]);
    expect((await call('DELETE', `/schedules/${created.body.schedule_id}`, alice)).status).to.equal(403);
    expect((await call('POST', '/schedules', alice, { name: 'mine', cron: '0 2 * * *', provider: 'evotel', action: 'validation', jobs: [{ circuit_number: 'EVO300009' }] })).status).to.equal(403);
  });

  it('an Idempotency-Key is per key: the same key from another submitter does not replay the first one\'s jobs', async () => {
    const body = { provider: 'evotel', action: 'validation', circuit_number: 'EVO300011' };
    const first = await fetch(`${h.url}/jobs`, { method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json', 'idempotency-key': 'same' }, body: JSON.stringify(body) });
    const second = await fetch(`${h.url}/jobs`, { method: 'POST', headers: { authorization: `Bearer ${bob}`, 'content-type': 'application/json', 'idempotency-key': 'same' }, body: JSON.stringify(body) });
    const [a, b] = [(await first.json()) as { job_id: number }, (await second.json()) as { job_id: number }];
    expect(second.status).to.equal(202);
    expect(b.job_id).to.not.equal(a.job_id);
    expect((await call('GET', `/jobs/${b.job_id}`, bob)).status).to.equal(200);
    expect((await call('GET', `/jobs/${a.job_id}`, bob)).status).to.equal(404);
  });
});
