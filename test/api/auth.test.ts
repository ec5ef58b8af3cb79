import { expect } from 'chai';
import { startApiHarness, type ApiHarness } from '../support/api-harness.js';

describe('API auth and roles', () => {
  let api: ApiHarness;
  before(async () => {
    api = await startApiHarness();
  });
  after(async () => api.close());

  const job = { provider: 'octotel', action: 'validation', circuit_number: 'OCT123451' };

  it('answers 401 without a key or with an unknown one, on every route but /health*', async () => {
    for (const [method, path] of [['POST', '/jobs'], ['POST', '/jobs/bulk'], ['GET', '/jobs'], ['GET', '/jobs/1'], ['GET', '/batches'], ['GET', '/batches/active'], ['POST', '/jobs/1/cancel'], ['GET', '/api-keys']] as const) {
      const none = await api.call(method, path, { key: null, body: method === 'POST' ? job : undefined });
      expect(none.status, `${method} ${path}`).to.equal(401);
      expect(none.body.error.code).to.equal('UNAUTHENTICATED');
      const wrong = await api.call(method, path, { key: 'rpa_not-a-real-key' });
      expect(wrong.status, `${method} ${path}`).to.equal(401);
    }
    for (const path of ['/health', '/health/live', '/health/ready']) {
      expect((await api.call('GET', path, { key: null })).status, path).to.equal(200);
    }
  });

  it('accepts the key as X-API-Key too', async () => {
    const key = await api.keyFor('submitter');
    const res = await fetch(`${api.url}/jobs?limit=1`, { headers: { 'x-api-key': key } });
    expect(res.status).to.equal(200);
  });

  it('lets a submitter submit, read and withdraw its own jobs, but nothing else', async () => {
    const key = await api.keyFor('submitter');
    const submitted = await api.call('POST', '/jobs', { key, body: job });
    expect(submitted.status).to.equal(202);
    expect((await api.call('GET', `/jobs/${submitted.body.job_id}`, { key })).status).to.equal(200);
    expect((await api.call('GET', '/batches', { key })).status).to.equal(403);
    // Issue 13: a submitter withdraws the jobs its own key created (others' are not found: test/api/visibility.test.ts).
    expect((await api.call('POST', `/jobs/${submitted.body.job_id}/cancel`, { key })).status).to.equal(200);
    const keys = await api.call('GET', '/api-keys', { key });
    expect(keys.status).to.equal(403);
    expect(keys.body.error.code).to.equal('FORBIDDEN');
  });

  it('lets a viewer read but not submit or cancel', async () => {
    const key = await api.keyFor('viewer');
    expect((await api.call('GET', '/batches', { key })).status).to.equal(200);
    expect((await api.call('POST', '/jobs', { key, body: job })).status).to.equal(403);
    expect((await api.call('POST', '/jobs/1/cancel', { key })).status).to.equal(403);
  });

  it('lets an operator read everything and cancel, but not manage keys', async () => {
    const key = await api.keyFor('operator');
    const submitted = await api.call('POST', '/jobs', { key, body: { ...job, circuit_number: 'OCT123452' } });
    expect((await api.call('GET', '/batches/active', { key })).status).to.equal(200);
    expect((await api.call('POST', `/jobs/${submitted.body.job_id}/cancel`, { key })).status).to.equal(200);
    expect((await api.call('POST', '/api-keys', { key, body: { name: 'x', role: 'viewer' } })).status).to.equal(403);
  });

  it('lets an admin create, list and revoke keys; a revoked key stops working; only the hash is stored', async () => {
    const created = await api.call('POST', '/api-keys', { body: { name: 'ords', role: 'submitter' } });
    expect(created.status).to.equal(201);
    const key: string = created.body.key;
    expect(key).to.match(/^rpa_/);
    expect((await api.call('POST', '/jobs', { key, body: job })).status).to.equal(202);
    const stored = await api.database.db.selectFrom('api_keys').selectAll().where('name', '=', 'ords').executeTakeFirstOrThrow();
    expect(JSON.stringify(stored)).not.to.contain(key);
    const listed = await api.call('GET', '/api-keys');
    expect(JSON.stringify(listed.body)).not.to.contain(key);
    expect(listed.body.api_keys.map((k: { name: string }) => k.name)).to.include('ords');
    expect((await api.call('POST', '/api-keys', { body: { name: 'ords', role: 'viewer' } })).status).to.equal(409);
    expect((await api.call('POST', '/api-keys', { body: { name: 'x', role: 'root' } })).body.error.field).to.equal('role');
    expect((await api.call('DELETE', '/api-keys/ords')).status).to.equal(200);
    expect((await api.call('POST', '/jobs', { key, body: job })).status).to.equal(401);
  });
});
