import { expect } from 'chai';
import { sql } from 'kysely';
import { startApiHarness, type ApiHarness } from '../support/api-harness.js';

describe('reading jobs and batches, withdrawing jobs, health', () => {
  let api: ApiHarness;
  let ids: number[];
  before(async () => {
    api = await startApiHarness();
    const res = await api.call('POST', '/jobs/bulk', {
      body: { provider: 'evotel', action: 'validation', jobs: Array.from({ length: 7 }, (_, i) => ({ circuit_number: `EVO00000${i + 1}` })) },
    });
    ids = res.body.job_ids;
    await api.call('POST', '/jobs', { body: { provider: 'octotel', action: 'validation', circuit_number: 'OCT000001' } });
  });
  after(async () => api.close());

  it('GET /jobs/:id shows the job; unknown → 404; malformed → 400', async () => {
    const res = await api.call('GET', `/jobs/${ids[0]}`);
    expect(res.status).to.equal(200);
    expect(res.body).to.include({ job_id: ids[0], provider: 'evotel', action: 'validation', status: 'pending', attempts: 0, batch_id: null, result: null, error: null });
    expect(res.body.parameters).to.deep.equal({ circuit_number: 'EVO000001' });
    expect(res.body).to.have.keys([
      'job_id', 'provider', 'action', 'parameters', 'status', 'result', 'error', 'batch_id', 'attempts', 'max_attempts', 'external_id',
      'callback_url', 'callback', 'evidence', 'audit_head', 'created_at', 'updated_at', 'started_at', 'completed_at',
    ]);
    // A job just submitted: no evidence yet, its chain holds the submission event.
    expect(res.body.evidence).to.deep.equal([]);
    expect(res.body.audit_head).to.match(/^[0-9a-f]{64}$/);
    expect((await api.call('GET', '/jobs/999999')).status).to.equal(404);
    const bad = await api.call('GET', '/jobs/abc');
    expect(bad.status).to.equal(400);
    expect(bad.body.error.field).to.equal('id');
  });

  it('GET /jobs lists newest first, filters, and paginates with a cursor', async () => {
    const page1 = await api.call('GET', '/jobs?provider=evotel&limit=3');
    expect(page1.body.jobs.map((j: { job_id: number }) => j.job_id)).to.deep.equal([ids[6], ids[5], ids[4]]);
    const page2 = await api.call('GET', `/jobs?provider=evotel&limit=3&cursor=${page1.body.next_cursor}`);
    expect(page2.body.jobs.map((j: { job_id: number }) => j.job_id)).to.deep.equal([ids[3], ids[2], ids[1]]);
    const page3 = await api.call('GET', `/jobs?provider=evotel&limit=3&cursor=${page2.body.next_cursor}`);
    expect(page3.body.jobs.map((j: { job_id: number }) => j.job_id)).to.deep.equal([ids[0]]);
    expect(page3.body.next_cursor).to.equal(null);
    const octotel = await api.call('GET', '/jobs?provider=octotel&status=pending');
    expect(octotel.body.jobs).to.have.length(1);
    expect((await api.call('GET', '/jobs?status=done')).body.error.field).to.equal('status');
    expect((await api.call('GET', '/jobs?limit=0')).body.error.field).to.equal('limit');
    expect((await api.call('GET', '/jobs?provider=acme')).body.error.field).to.equal('provider');
  });

  it('shows batches: list, active with progress, one with its jobs', async () => {
    const db = api.database.db;
    const batch = await db.insertInto('batches').values({ provider: 'evotel', size: 4, status: 'in_progress', worker: 'w-1', completed_count: 1, failed_count: 1 }).returning('id').executeTakeFirstOrThrow();
    await db.insertInto('batch_jobs').values(ids.slice(0, 4).map((id, position) => ({ batch_id: batch.id, job_id: String(id), position, attempt: 0 }))).execute();
    await db.updateTable('jobs').set({ batch_id: batch.id }).where('id', 'in', ids.slice(0, 4).map(String)).execute();
    const done = await db.insertInto('batches').values({ provider: 'evotel', size: 1, status: 'completed', completed_count: 1 }).returning('id').executeTakeFirstOrThrow();

    const active = await api.call('GET', '/batches/active');
    expect(active.body.active_batches).to.equal(1);
    expect(active.body.batches[0]).to.include({ batch_id: Number(batch.id), provider: 'evotel', worker: 'w-1', progress: '2/4', status: 'in_progress' });
    const list = await api.call('GET', '/batches?status=completed');
    expect(list.body.batches.map((b: { batch_id: number }) => b.batch_id)).to.deep.equal([Number(done.id)]);
    const one = await api.call('GET', `/batches/${batch.id}`);
    expect(one.body.jobs.map((j: { job_id: number }) => j.job_id)).to.deep.equal(ids.slice(0, 4));
    expect((await api.call('GET', '/batches/424242')).status).to.equal(404);
    expect((await api.call('GET', '/batches?since=yesterday')).body.error.field).to.equal('since');
    expect((await api.call(`GET`, `/jobs?batch_id=${batch.id}`)).body.jobs).to.have.length(4);
  });

  it('POST /jobs/:id/cancel withdraws a pending job (with an event) and 409s a started one', async () => {
    const res = await api.call('POST', `/jobs/${ids[5]}/cancel`);
    expect(res.status).to.equal(200);
    expect(res.body.status).to.equal('cancelled');
    const events = await api.database.db.selectFrom('job_events').select(['from_status', 'to_status', 'cause', 'actor']).where('job_id', '=', String(ids[5])).orderBy('id').execute();
    expect(events.at(-1)).to.deep.equal({ from_status: 'pending', to_status: 'cancelled', cause: 'withdrawn by operator', actor: 'bootstrap-admin' });
    expect((await api.call('POST', `/jobs/${ids[5]}/cancel`)).status).to.equal(409);
    await api.database.db.updateTable('jobs').set({ status: 'running' }).where('id', '=', String(ids[6])).execute();
    const running = await api.call('POST', `/jobs/${ids[6]}/cancel`);
    expect(running.status).to.equal(409);
    expect(running.body.error.message).to.contain('running');
    expect((await api.call('POST', '/jobs/999999/cancel')).status).to.equal(404);
  });

  it('keeps the event log append-only', async () => {
    let refused = false;
    try {
      await sql`UPDATE job_events SET cause = 'rewritten'`.execute(api.database.db);
    } catch (error) {
      refused = /append-only/.test((error as Error).message);
    }
    expect(refused).to.equal(true);
  });

  it('GET /health reports Postgres, Valkey and queue state to a viewer key (without a key: its status alone)', async () => {
    const open = await api.call('GET', '/health', { key: null });
    expect(open.status).to.equal(200);
    expect(open.body).to.deep.equal({ status: 'ok' });
    const res = await api.call('GET', '/health', { key: await api.keyFor('viewer') });
    expect(res.status).to.equal(200);
    expect(res.body.postgres.ok).to.equal(true);
    expect(res.body.valkey.ok).to.equal(true);
    expect(res.body.queues.evotel.waiting).to.be.a('number');
    expect((await api.call('GET', '/health/ready', { key: null })).body.status).to.equal('ready');
  });

  it('answers unknown routes with a JSON 404', async () => {
    const res = await api.call('GET', '/nope');
    expect(res.status).to.equal(404);
    expect(res.body.error.code).to.equal('NOT_FOUND');
  });
});
