import { expect } from 'chai';
import { startApiHarness, type ApiHarness } from '../support/api-harness.js';

describe('POST /jobs/bulk', () => {
  let api: ApiHarness;
  before(async () => {
    api = await startApiHarness();
  });
  after(async () => api.close());

  const jobCount = async () => Number((await api.database.db.selectFrom('jobs').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

  it('accepts 10,000 jobs in one request, all stored and all on the provider queue', async function () {
    this.timeout(120_000);
    const jobs = Array.from({ length: 10_000 }, (_, i) => ({ circuit_number: `OSN${String(1_000_000 + i).padStart(7, '0')}` }));
    const res = await api.call('POST', '/jobs/bulk', { body: { provider: 'openserve', action: 'validation', jobs, callback_url: 'https://ords.example.com/cb' } });
    expect(res.status).to.equal(202);
    expect(res.body.count).to.equal(10_000);
    expect(res.body.status).to.equal('accepted');
    expect(res.body.job_ids).to.have.length(10_000);
    expect(new Set(res.body.job_ids).size).to.equal(10_000);
    const stored = await api.database.db.selectFrom('jobs').select(['id', 'circuit_number', 'enqueued_at']).where('provider', '=', 'openserve').orderBy('id').execute();
    expect(stored).to.have.length(10_000);
    // ids come back in request order
    const byId = new Map(stored.map((r) => [Number(r.id), r.circuit_number]));
    expect(byId.get(res.body.job_ids[0])).to.equal(jobs[0]!.circuit_number);
    expect(byId.get(res.body.job_ids[9_999])).to.equal(jobs[9_999]!.circuit_number);
    expect(stored.every((r) => r.enqueued_at !== null)).to.equal(true);
    // Every entry carries its priority, so BullMQ keeps them in its prioritized set.
    const counts = await api.queues.providerJobs('openserve').getJobCounts('prioritized');
    expect(counts.prioritized).to.equal(10_000);
  });

  it('is all-or-nothing: one bad item → 400 naming its index and field, nothing stored', async () => {
    const before = await jobCount();
    const jobs = [{ circuit_number: 'EVO123451' }, { circuit_number: 'EVO123452' }, { circuit_number: 'EVO12' }];
    const res = await api.call('POST', '/jobs/bulk', { body: { provider: 'evotel', action: 'validation', jobs } });
    expect(res.status).to.equal(400);
    expect(res.body.error.field).to.equal('jobs[2].circuit_number');
    expect(res.body.error.message).to.contain('jobs[2].circuit_number');
    expect(await jobCount()).to.equal(before);
  });

  it('names a bad date deep in a bulk request', async () => {
    const res = await api.call('POST', '/jobs/bulk', {
      body: { provider: 'evotel', action: 'cancellation', jobs: [{ circuit_number: 'EVO123451' }, { parameters: { circuit_number: 'EVO123452', effective_date: '2031-13-01' } }] },
    });
    expect(res.status).to.equal(400);
    expect(res.body.error.field).to.equal('jobs[1].parameters.effective_date');
  });

  it('refuses more than 10,000 jobs and an empty list', async () => {
    const tooMany = Array.from({ length: 10_001 }, () => ({ circuit_number: 'EVO123451' }));
    const res = await api.call('POST', '/jobs/bulk', { body: { provider: 'evotel', action: 'validation', jobs: tooMany } });
    expect(res.status).to.equal(400);
    expect(res.body.error.field).to.equal('jobs');
    const empty = await api.call('POST', '/jobs/bulk', { body: { provider: 'evotel', action: 'validation', jobs: [] } });
    expect(empty.status).to.equal(400);
  });

  it('replays a bulk Idempotency-Key with the same ids and 409s another body', async () => {
    const body = { provider: 'octotel', action: 'validation', jobs: [{ circuit_number: 'OCT100001' }, { circuit_number: 'OCT100002' }] };
    const first = await api.call('POST', '/jobs/bulk', { body, headers: { 'idempotency-key': 'bulk-1' } });
    const count = await jobCount();
    const again = await api.call('POST', '/jobs/bulk', { body, headers: { 'idempotency-key': 'bulk-1' } });
    expect(again.status).to.equal(202);
    expect(again.body.job_ids).to.deep.equal(first.body.job_ids);
    const other = await api.call('POST', '/jobs/bulk', { body: { ...body, jobs: [{ circuit_number: 'OCT100003' }] }, headers: { 'idempotency-key': 'bulk-1' } });
    expect(other.status).to.equal(409);
    expect(await jobCount()).to.equal(count);
  });

  it('reuses jobs by external_id inside a bulk request and refuses duplicates within one', async () => {
    const first = await api.call('POST', '/jobs/bulk', { body: { provider: 'octotel', action: 'validation', jobs: [{ circuit_number: 'OCT200001', external_id: 'e-1' }] } });
    const mixed = await api.call('POST', '/jobs/bulk', {
      body: { provider: 'octotel', action: 'validation', jobs: [{ circuit_number: 'OCT200001', external_id: 'e-1' }, { circuit_number: 'OCT200002', external_id: 'e-2' }] },
    });
    expect(mixed.status).to.equal(202);
    expect(mixed.body.job_ids[0]).to.equal(first.body.job_ids[0]);
    const dup = await api.call('POST', '/jobs/bulk', {
      body: { provider: 'octotel', action: 'validation', jobs: [{ circuit_number: 'OCT200003', external_id: 'e-3' }, { circuit_number: 'OCT200003', external_id: 'e-3' }] },
    });
    expect(dup.status).to.equal(400);
    expect(dup.body.error.field).to.equal('jobs[1].external_id');
    const conflict = await api.call('POST', '/jobs/bulk', { body: { provider: 'octotel', action: 'validation', jobs: [{ circuit_number: 'OCT200009', external_id: 'e-1' }] } });
    expect(conflict.status).to.equal(409);
    expect(conflict.body.error.field).to.equal('jobs[0].external_id');
  });
});
