import { expect } from 'chai';
import { BULL_BOARD_SESSION_COOKIE } from '../../src/api/bull-board-router.js';
import { startApiHarness, type ApiHarness } from '../support/api-harness.js';
import { startOperatorHarness, type OperatorHarness } from '../support/operator-harness.js';

/**
 * Input that used to reach Postgres (or a parser) and come back as a 500: each is a 4xx with an
 * error code now, and changes nothing.
 */
describe('no 500 for bad input', () => {
  let api: ApiHarness;
  before(async () => {
    api = await startApiHarness();
  });
  after(async () => api.close());

  const jobs = async () => Number((await api.database.db.selectFrom('jobs').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
  const base = { provider: 'octotel', action: 'validation', circuit_number: 'OCT123451' };

  it('a NUL, another control character or a lone surrogate in a text field is a 400 naming the field', async () => {
    const before = await jobs();
    const cases: Array<[string, unknown, string]> = [
      ['/jobs', { ...base, external_id: 'ords\u0000-1' }, 'external_id'],
      ['/jobs', { ...base, external_id: 'ords-\ud800' }, 'external_id'],
      ['/jobs', { ...base, external_id: 'line\nbreak' }, 'external_id'],
      ['/jobs', { ...base, circuit_number: 'OCT12345\u0000' }, 'circuit_number'],
      ['/jobs', { ...base, callback_url: 'https://ords.example.com/\u0000cb' }, 'callback_url'],
      ['/jobs', { ...base, callback_url: 'https://ords.exa\tmple.com/cb' }, 'callback_url'],
      ['/jobs/bulk', { provider: 'octotel', action: 'validation', jobs: [{ circuit_number: 'OCT123451', external_id: '\u0000' }] }, 'jobs[0].external_id'],
      ['/jobs', { ...base, 'odd\u0000key': 1 }, '"odd\\u0000key"'],
    ];
    for (const [path, body, field] of cases) {
      // Sent as raw JSON text: \u0000 escapes reach the parser as they would from any client.
      const res = await api.call('POST', path, { rawBody: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
      expect(res.status, JSON.stringify(body)).to.equal(400);
      expect(res.body.error.code).to.equal('VALIDATION_FAILED');
      expect(res.body.error.field, JSON.stringify(body)).to.equal(field);
    }
    expect(await jobs()).to.equal(before);
  });

  it('an overflowing or out-of-range since, limit or cursor is a 400', async () => {
    for (const [path, field] of [
      ['/batches?since=99999999999999999999d', 'since'],
      ['/batches?since=999999999999d', 'since'],
      ['/batches?since=+275760-09-13T00:00:00Z', 'since'],
      ['/batches?since=0001-01-01', 'since'],
      ['/jobs?since=9999999999w', 'since'],
      ['/jobs?limit=99999999999999999999', 'limit'],
      ['/jobs?cursor=99999999999999999999', 'cursor'],
      ['/jobs/99999999999999999999', 'id'],
      ['/jobs?batch_id=-1', 'batch_id'],
    ] as const) {
      const res = await api.call('GET', path);
      expect(res.status, path).to.equal(400);
      expect(res.body.error.field, path).to.equal(field);
    }
    expect((await api.call('GET', '/batches?since=2020-01-01T00:00:00Z')).status).to.equal(200);
  });

  it('two concurrent submissions with one new external_id (a unique-violation race) are 4xx or the same job, never a 500', async () => {
    for (let round = 0; round < 5; round++) {
      const body = { ...base, circuit_number: `OCT7${String(round).padStart(5, '0')}`, external_id: `race-${round}` };
      const other = { ...body, circuit_number: `OCT8${String(round).padStart(5, '0')}` };
      // Same body twice and a different body with the same external_id, all at once.
      const results = await Promise.all([body, body, other, body].map((b) => api.call('POST', '/jobs', { body: b })));
      for (const r of results) expect(r.status, JSON.stringify(r.body)).to.be.oneOf([202, 409]);
      const accepted = results.filter((r) => r.status === 202).map((r) => r.body.job_id);
      expect(new Set(accepted).size, 'one job for the external_id').to.equal(1);
      for (const r of results.filter((x) => x.status === 409)) expect(r.body.error.code).to.equal('CONFLICT');
      const rows = await api.database.db.selectFrom('jobs').select('id').where('external_id', '=', `race-${round}`).execute();
      expect(rows).to.have.length(1);
    }
    // The same in bulk requests racing each other.
    const bulk = { provider: 'octotel', action: 'validation', jobs: [{ circuit_number: 'OCT900001', external_id: 'bulk-race-1' }, { circuit_number: 'OCT900002', external_id: 'bulk-race-2' }] };
    const results = await Promise.all([1, 2, 3].map(() => api.call('POST', '/jobs/bulk', { body: bulk })));
    for (const r of results) expect(r.status, JSON.stringify(r.body)).to.be.oneOf([202, 409]);
    expect(results.some((r) => r.status === 202)).to.equal(true);
  });

  it("another key's external_id is a 409 that names no job (and returns none)", async () => {
    const first = await api.call('POST', '/jobs', { key: await api.keyFor('submitter'), body: { ...base, circuit_number: 'OCT555001', external_id: 'shared-ext' } });
    expect(first.status).to.equal(202);
    const other = await api.call('POST', '/jobs', { key: await api.keyFor('operator'), body: { ...base, circuit_number: 'OCT555001', external_id: 'shared-ext' } });
    expect(other.status).to.equal(409);
    expect(other.body.error.field).to.equal('external_id');
    expect(other.body.error.message).to.not.contain(String(first.body.job_id));
    expect(other.body).to.not.have.property('job_id');
  });
});

describe('no 500 for bad input: Bull Board', () => {
  let h: OperatorHarness;
  before(async () => {
    h = await startOperatorHarness();
  });
  after(async () => h.close());

  it('a malformed Bull Board cookie is a 401, not a 500', async () => {
    for (const cookie of [`${BULL_BOARD_SESSION_COOKIE}=%E0%A4%A`, `${BULL_BOARD_SESSION_COOKIE}=%`, `rpa_board_key=%E0%A4%A`, `${BULL_BOARD_SESSION_COOKIE}`]) {
      for (const accept of ['application/json', 'text/html']) {
        const res = await fetch(`${h.url}/admin/queues`, { headers: { cookie, accept } });
        expect(res.status, `${cookie} ${accept}`).to.equal(401);
      }
    }
  });
});
