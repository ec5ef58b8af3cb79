import { expect } from 'chai';
import { startApiHarness, type ApiHarness } from '../support/api-harness.js';

const future = () => {
  const d = new Date(Date.now() + 7 * 86_400_000);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
};

describe('POST /jobs', () => {
  let api: ApiHarness;
  before(async () => {
    api = await startApiHarness();
  });
  after(async () => api.close());

  const jobCount = async () => Number((await api.database.db.selectFrom('jobs').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

  it('accepts an ORDS job, stores it with its first event and puts it on its provider queue', async () => {
    const res = await api.call('POST', '/jobs', {
      body: { provider: 'octotel', action: 'validation', circuit_number: 'OCT123451', callback_url: 'https://ords.example.com/cb' },
    });
    expect(res.status).to.equal(202);
    expect(res.body.status).to.equal('accepted');
    expect(res.body.job_id).to.be.a('number');
    const row = await api.database.db.selectFrom('jobs').selectAll().where('id', '=', String(res.body.job_id)).executeTakeFirstOrThrow();
    expect(row).to.include({ provider: 'octotel', action: 'validation', circuit_number: 'OCT123451', status: 'pending' });
    expect(row.enqueued_at).to.be.instanceOf(Date);
    const events = await api.database.db.selectFrom('job_events').selectAll().where('job_id', '=', row.id).execute();
    expect(events.map((e) => [e.from_status, e.to_status, e.cause])).to.deep.equal([[null, 'pending', 'submitted']]);
    const queued = await api.queues.providerJobs('octotel').getJob(`job-${row.id}-t0`);
    expect(queued?.data).to.deep.equal({ jobId: row.id, trip: 0, action: 'validation', circuit: 'OCT123451', priority: 'normal' });
  });

  it('takes inputs from "parameters" too', async () => {
    const date = future();
    const res = await api.call('POST', '/jobs', {
      body: { provider: 'metrofiber', action: 'cancellation', parameters: { circuit_number: 'MFN-1234-5671', reason: 'migration', effective_date: date } },
    });
    expect(res.status).to.equal(202);
    const job = await api.call('GET', `/jobs/${res.body.job_id}`);
    expect(job.body.parameters).to.deep.equal({ circuit_number: 'MFN-1234-5671', reason: 'migration', effective_date: date });
    expect(job.body).to.include({ provider: 'metrofiber', action: 'cancellation', status: 'pending', attempts: 0, batch_id: null });
  });

  const badInputs: Array<[string, Record<string, unknown>, string]> = [
    ['unknown provider', { provider: 'vumatel', action: 'validation', circuit_number: 'OCT123451' }, 'provider'],
    ['unknown action', { provider: 'octotel', action: 'upgrade', circuit_number: 'OCT123451' }, 'action'],
    ['missing circuit', { provider: 'octotel', action: 'validation' }, 'circuit_number'],
    ['circuit of another provider', { provider: 'octotel', action: 'validation', circuit_number: 'EVO123456' }, 'circuit_number'],
    ['circuit in parameters, wrong format', { provider: 'openserve', action: 'validation', parameters: { circuit_number: 'OSN12' } }, 'parameters.circuit_number'],
    ['impossible date', { provider: 'evotel', action: 'cancellation', circuit_number: 'EVO123451', effective_date: '2030-02-30' }, 'effective_date'],
    ['past date', { provider: 'evotel', action: 'cancellation', circuit_number: 'EVO123451', effective_date: '2001-01-01' }, 'effective_date'],
    ['unknown reason', { provider: 'evotel', action: 'cancellation', circuit_number: 'EVO123451', reason: 'boredom' }, 'reason'],
    ['non-string circuit', { provider: 'octotel', action: 'validation', circuit_number: 123451 }, 'circuit_number'],
    ['callback to loopback', { provider: 'octotel', action: 'validation', circuit_number: 'OCT123451', callback_url: 'http://127.0.0.1/cb' }, 'callback_url'],
    ['callback to metadata', { provider: 'octotel', action: 'validation', circuit_number: 'OCT123451', callback_url: 'http://169.254.169.254/latest' }, 'callback_url'],
    ['callback as a decimal IP', { provider: 'octotel', action: 'validation', circuit_number: 'OCT123451', callback_url: 'http://2130706433/' }, 'callback_url'],
    ['callback as a hex IP', { provider: 'octotel', action: 'validation', circuit_number: 'OCT123451', callback_url: 'http://0x7f.1/' }, 'callback_url'],
    ['callback as mapped IPv6', { provider: 'octotel', action: 'validation', circuit_number: 'OCT123451', callback_url: 'http://[::ffff:127.0.0.1]/' }, 'callback_url'],
    ['callback not http', { provider: 'octotel', action: 'validation', circuit_number: 'OCT123451', callback_url: 'ftp://ords.example.com/' }, 'callback_url'],
    ['conflicting circuit numbers', { provider: 'octotel', action: 'validation', circuit_number: 'OCT123451', parameters: { circuit_number: 'OCT123452' } }, 'circuit_number'],
  ];
  for (const [what, body, field] of badInputs) {
    it(`refuses ${what} with 400 naming ${field}, storing nothing`, async () => {
      const before = await jobCount();
      const res = await api.call('POST', '/jobs', { body });
      expect(res.status).to.equal(400);
      expect(res.body.error.field).to.equal(field);
      expect(res.body.error.code).to.be.a('string');
      expect(res.body.error.message).to.be.a('string').and.not.empty;
      expect(await jobCount()).to.equal(before);
    });
  }

  it('refuses a body that is not JSON with 400', async () => {
    const res = await api.call('POST', '/jobs', { rawBody: 'provider=octotel', headers: { 'content-type': 'text/plain' } });
    expect(res.status).to.equal(400);
    expect(res.body.error.field).to.equal('body');
  });

  it('refuses a JSON array body with 400', async () => {
    const res = await api.call('POST', '/jobs', { body: [1, 2] });
    expect(res.status).to.equal(400);
  });

  it('refuses a body over the limit with 413', async () => {
    const res = await api.call('POST', '/jobs', { rawBody: JSON.stringify({ pad: 'x'.repeat(9 * 1024 * 1024) }), headers: { 'content-type': 'application/json' } });
    expect(res.status).to.equal(413);
    expect(res.body.error.code).to.equal('PAYLOAD_TOO_LARGE');
  });

  describe('idempotency', () => {
    it('replays an Idempotency-Key with the same body: same job id, nothing created', async () => {
      const body = { provider: 'evotel', action: 'validation', circuit_number: 'EVO000111' };
      const first = await api.call('POST', '/jobs', { body, headers: { 'idempotency-key': 'ords-42' } });
      const count = await jobCount();
      const second = await api.call('POST', '/jobs', { body, headers: { 'idempotency-key': 'ords-42' } });
      expect(first.status).to.equal(202);
      expect(second.status).to.equal(202);
      expect(second.body.job_id).to.equal(first.body.job_id);
      expect(await jobCount()).to.equal(count);
    });

    it('answers 409 for an Idempotency-Key reused with another body', async () => {
      await api.call('POST', '/jobs', { body: { provider: 'evotel', action: 'validation', circuit_number: 'EVO000112' }, headers: { 'idempotency-key': 'ords-43' } });
      const count = await jobCount();
      const res = await api.call('POST', '/jobs', { body: { provider: 'evotel', action: 'validation', circuit_number: 'EVO000113' }, headers: { 'idempotency-key': 'ords-43' } });
      expect(res.status).to.equal(409);
      expect(res.body.error.field).to.equal('Idempotency-Key');
      expect(await jobCount()).to.equal(count);
    });

    it('treats external_id the same way', async () => {
      const body = { provider: 'openserve', action: 'validation', circuit_number: 'OSN0000111', external_id: 'ext-1' };
      const first = await api.call('POST', '/jobs', { body });
      const count = await jobCount();
      const again = await api.call('POST', '/jobs', { body });
      expect(again.body.job_id).to.equal(first.body.job_id);
      const changed = await api.call('POST', '/jobs', { body: { ...body, circuit_number: 'OSN0000112' } });
      expect(changed.status).to.equal(409);
      expect(changed.body.error.field).to.equal('external_id');
      expect(await jobCount()).to.equal(count);
    });

    it('makes concurrent requests with one key create one job', async () => {
      const body = { provider: 'octotel', action: 'validation', circuit_number: 'OCT000222' };
      const results = await Promise.all([1, 2, 3, 4].map(() => api.call('POST', '/jobs', { body, headers: { 'idempotency-key': 'race-1' } })));
      expect(results.map((r) => r.status)).to.deep.equal([202, 202, 202, 202]);
      expect(new Set(results.map((r) => r.body.job_id)).size).to.equal(1);
    });
  });
});
