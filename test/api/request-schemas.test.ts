import { expect } from 'chai';
import { startApiHarness, type ApiHarness } from '../support/api-harness.js';
import { startOperatorHarness, type OperatorHarness, OPERATOR_BOOTSTRAP_KEY } from '../support/operator-harness.js';

const inDays = (days: number) => {
  const d = new Date(Date.now() + days * 86_400_000);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
};

describe('strict request schemas: unknown fields, wrong types and nulls are refused, naming the field, storing nothing', () => {
  let api: ApiHarness;
  before(async () => {
    api = await startApiHarness();
  });
  after(async () => api.close());

  const count = async (table: 'jobs' | 'api_keys' | 'job_events') => Number((await api.database.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
  const cancellation = { provider: 'evotel', action: 'cancellation', circuit_number: 'EVO123451' };

  async function refused(path: string, body: unknown, field: string, message?: RegExp) {
    const [jobs, events] = [await count('jobs'), await count('job_events')];
    const res = await api.call('POST', path, { body });
    expect(res.status, JSON.stringify(body)).to.equal(400);
    expect(res.body.error.code).to.equal('VALIDATION_FAILED');
    expect(res.body.error.field, JSON.stringify(body)).to.equal(field);
    expect(res.body.error.message).to.match(new RegExp(`^${field.replace(/[[\].]/g, '\\$&')}: `));
    if (message) expect(res.body.error.message).to.match(message);
    expect(await count('jobs'), 'no job stored').to.equal(jobs);
    expect(await count('job_events'), 'no event stored').to.equal(events);
    return res.body.error.message as string;
  }

  it('refuses the camel-case typo that today cancels at once: effectiveDate on a cancellation', async () => {
    const message = await refused('/jobs', { ...cancellation, effectiveDate: '2031-01-01' }, 'effectiveDate', /unknown field \(did you mean effective_date\?\)/);
    expect(message).to.contain('effectiveDate');
    await refused('/jobs', { ...cancellation, parameters: { circuit_number: 'EVO123451', effectiveDate: '2031-01-01' } }, 'parameters.effectiveDate');
    await refused('/jobs/bulk', { provider: 'evotel', action: 'cancellation', jobs: [{ circuit_number: 'EVO123451' }, { circuit_number: 'EVO123452', effectiveDate: '2031-01-01' }] }, 'jobs[1].effectiveDate');
  });

  it('refuses null where a value goes (effective_date: null is not "today")', async () => {
    for (const field of ['effective_date', 'reason', 'circuit_number', 'callback_url', 'external_id', 'priority', 'deadline', 'dry_run', 'parameters', 'provider', 'action']) {
      await refused('/jobs', { ...cancellation, [field]: null }, field, /must not be null/);
    }
    await refused('/jobs/bulk', { provider: 'evotel', action: 'cancellation', jobs: [{ circuit_number: 'EVO123451', effective_date: null }] }, 'jobs[0].effective_date', /must not be null/);
    await refused('/jobs/bulk', { provider: 'evotel', action: 'cancellation', callback_url: null, jobs: [{ circuit_number: 'EVO123451' }] }, 'callback_url', /must not be null/);
    await refused('/jobs/bulk', { provider: 'evotel', action: 'cancellation', jobs: null }, 'jobs', /must not be null/);
  });

  it('refuses wrong types, naming the field and the type wanted', async () => {
    await refused('/jobs', { ...cancellation, effective_date: 20310101 }, 'effective_date', /must be a string, not number/);
    await refused('/jobs', { ...cancellation, dry_run: 'yes' }, 'dry_run', /must be a boolean/);
    await refused('/jobs', { ...cancellation, parameters: ['EVO123451'] }, 'parameters', /must be an object/);
    await refused('/jobs', { ...cancellation, provider: ['evotel'] }, 'provider', /must be a string/);
    await refused('/jobs/bulk', { provider: 'evotel', action: 'validation', jobs: { circuit_number: 'EVO123451' } }, 'jobs', /must be an array/);
    await refused('/jobs/bulk', { provider: 'evotel', action: 'validation', jobs: ['EVO123451'] }, 'jobs[0]', /must be an object/);
  });

  it('refuses unknown fields at every level of a bulk request', async () => {
    await refused('/jobs/bulk', { provider: 'evotel', action: 'validation', callbackUrl: 'https://ords.example.com/cb', jobs: [{ circuit_number: 'EVO123451' }] }, 'callbackUrl', /did you mean callback_url/);
    await refused('/jobs/bulk', { provider: 'evotel', action: 'validation', jobs: [{ circuit_number: 'EVO123451', parameters: { circuit_number: 'EVO123451', colour: 'red' } }] }, 'jobs[0].parameters.colour');
    await refused('/jobs/bulk', { provider: 'evotel', action: 'validation', parameters: { circuit_number: 'EVO123451' }, jobs: [{ circuit_number: 'EVO123451' }] }, 'parameters');
  });

  it('refuses cancellation-only fields on a validation (a typo in action must not turn into a silent validation)', async () => {
    const validation = { provider: 'evotel', action: 'validation', circuit_number: 'EVO123451' };
    await refused('/jobs', { ...validation, effective_date: inDays(3) }, 'effective_date', /only for cancellations/);
    await refused('/jobs', { ...validation, reason: 'migration' }, 'reason', /only for cancellations/);
    await refused('/jobs', { ...validation, dry_run: true }, 'dry_run', /only for cancellations/);
    await refused('/jobs/bulk', { provider: 'evotel', action: 'validation', dry_run: true, jobs: [{ circuit_number: 'EVO123451' }] }, 'dry_run', /only for cancellations/);
  });

  it('accepts priority, deadline and dry_run and stores them in the job\'s parameters', async () => {
    const deadline = new Date(Date.now() + 3 * 86_400_000);
    const offset = `${deadline.toISOString().slice(0, 19)}+02:00`;
    const res = await api.call('POST', '/jobs', { body: { ...cancellation, priority: 'high', deadline: offset, dry_run: true, effective_date: inDays(2) } });
    expect(res.status).to.equal(202);
    const row = await api.database.db.selectFrom('jobs').select('parameters').where('id', '=', String(res.body.job_id)).executeTakeFirstOrThrow();
    expect(row.parameters).to.deep.equal({ circuit_number: 'EVO123451', effective_date: inDays(2), priority: 'high', deadline: new Date(offset).toISOString(), dry_run: true });
    // From `parameters` as well, and a bulk request's shared values go to every job that sets none.
    const bulk = await api.call('POST', '/jobs/bulk', {
      body: { provider: 'evotel', action: 'cancellation', priority: 'low', dry_run: false, jobs: [{ circuit_number: 'EVO123452' }, { parameters: { circuit_number: 'EVO123453', priority: 'high', dry_run: true } }] },
    });
    expect(bulk.status).to.equal(202);
    const rows = await api.database.db.selectFrom('jobs').select(['id', 'parameters']).where('id', 'in', bulk.body.job_ids.map(String)).orderBy('id').execute();
    expect(rows.map((r) => r.parameters)).to.deep.equal([
      { circuit_number: 'EVO123452', priority: 'low', dry_run: false },
      { circuit_number: 'EVO123453', priority: 'high', dry_run: true },
    ]);
    // Without them nothing is added: `normal` is what no priority means.
    const plain = await api.call('POST', '/jobs', { body: { provider: 'evotel', action: 'validation', circuit_number: 'EVO123454' } });
    expect((await api.call('GET', `/jobs/${plain.body.job_id}`)).body.parameters).to.deep.equal({ circuit_number: 'EVO123454' });
  });

  it('refuses a bad priority, a deadline without offset or not a real time; takes one already past (the job ends DEADLINE_EXCEEDED)', async () => {
    await refused('/jobs', { ...cancellation, priority: 'urgent' }, 'priority', /must be one of high, normal, low/);
    await refused('/jobs', { ...cancellation, deadline: '2031-01-01T10:00:00' }, 'deadline', /with its offset/);
    await refused('/jobs', { ...cancellation, deadline: '2031-01-01' }, 'deadline', /with its offset/);
    await refused('/jobs', { ...cancellation, deadline: '2031-02-30T10:00:00Z' }, 'deadline', /with its offset/);
    await refused('/jobs', { ...cancellation, parameters: { circuit_number: 'EVO123451', deadline: 'tomorrow' } }, 'parameters.deadline');
    const past = await api.call('POST', '/jobs', { body: { ...cancellation, deadline: '2001-01-01T10:00:00+02:00' } });
    expect(past.status).to.equal(202);
    expect((await api.call('GET', `/jobs/${past.body.job_id}`)).body.parameters.deadline).to.equal('2001-01-01T08:00:00.000Z');
  });

  it('takes no body on POST /jobs/:id/cancel: a field there is a 400 and the job stays pending', async () => {
    const res = await api.call('POST', '/jobs', { body: { provider: 'evotel', action: 'validation', circuit_number: 'EVO223451' } });
    const id = res.body.job_id;
    for (const [body, field] of [[{ reason: 'changed my mind' }, 'reason'], [[1], 'body'], ['now', 'body']] as const) {
      const refusedCancel = await api.call('POST', `/jobs/${id}/cancel`, { body });
      expect(refusedCancel.status, JSON.stringify(body)).to.equal(400);
      expect(refusedCancel.body.error.field).to.equal(field);
      expect((await api.call('GET', `/jobs/${id}`)).body.status).to.equal('pending');
    }
    expect((await api.call('POST', `/jobs/${id}/cancel`, { body: {} })).status).to.equal(200);
  });

  it('refuses unknown, repeated and unclean query parameters on every listing and reading route', async () => {
    const cases: Array<[string, string]> = [
      ['/jobs?stauts=failed', 'stauts'],
      ['/jobs?status=failed&status=pending', 'status'],
      ['/jobs?provider=evotel&callback=1', 'callback'],
      ['/jobs/1?verbose=1', 'verbose'],
      ['/jobs/1/events?limit=5', 'limit'],
      ['/batches?state=failed', 'state'],
      ['/batches/active?x=1', 'x'],
      ['/batches/1?jobs=all', 'jobs'],
      ['/api-keys?all=1', 'all'],
      ['/jobs?since=%00', 'since'],
    ];
    for (const [path, field] of cases) {
      const res = await api.call('GET', path);
      expect(res.status, path).to.equal(400);
      expect(res.body.error.field, path).to.equal(field);
    }
    // The known ones still work, action and since included.
    const ok = await api.call('GET', '/jobs?provider=evotel&action=validation&since=1h&limit=2');
    expect(ok.status).to.equal(200);
    expect(ok.body.jobs.length).to.be.within(1, 2);
  });

  it('DELETE /api-keys/:name takes no body: a field there is a 400 and the key stays active', async () => {
    const created = await api.call('POST', '/api-keys', { body: { name: 'keep-me', role: 'viewer' } });
    const res = await api.call('DELETE', '/api-keys/keep-me', { body: { confirm: true } });
    expect(res.status).to.equal(400);
    expect(res.body.error.field).to.equal('confirm');
    expect((await api.call('GET', '/jobs?limit=1', { key: created.body.key })).status).to.equal(200);
  });

  it('POST /api-keys takes exactly a name and a role', async () => {
    const before = await count('api_keys');
    for (const [body, field] of [
      [{ name: 'ords2', role: 'submitter', expires: '2031-01-01' }, 'expires'],
      [{ name: 'ords2', role: null }, 'role'],
      [{ name: 'ords2' }, 'role'],
      [{ name: 42, role: 'viewer' }, 'name'],
      [{ name: 'bad name!', role: 'viewer' }, 'name'],
      [{ name: 'ords2', role: 'root' }, 'role'],
      [['ords2'], 'body'],
    ] as const) {
      const res = await api.call('POST', '/api-keys', { body });
      expect(res.status, JSON.stringify(body)).to.equal(400);
      expect(res.body.error.field, JSON.stringify(body)).to.equal(field);
    }
    expect(await count('api_keys')).to.equal(before);
  });
});

describe('strict request schemas: POST /schedules', () => {
  let h: OperatorHarness;
  before(async () => {
    h = await startOperatorHarness();
  });
  after(async () => h.close());

  const post = async (body: unknown) => {
    const res = await fetch(`${h.url}/schedules`, { method: 'POST', headers: { authorization: `Bearer ${OPERATOR_BOOTSTRAP_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json().catch(() => null)) as any };
  };
  const schedules = async () => Number((await h.database.db.selectFrom('schedules').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
  const base = { name: 'morning', cron: '0 6 * * 1-5', provider: 'evotel', action: 'validation', jobs: [{ circuit_number: 'EVO123451' }] };

  it('refuses unknown fields, nulls, wrong types and a deadline, naming the field; stores nothing', async () => {
    for (const [body, field] of [
      [{ ...base, timeZone: 'UTC' }, 'timeZone'],
      [{ ...base, cron: null }, 'cron'],
      [{ ...base, name: 7 }, 'name'],
      [{ ...base, timezone: null }, 'timezone'],
      [{ ...base, jobs: [{ circuit_number: 'EVO123451', effectiveDate: '2031-01-01' }] }, 'jobs[0].effectiveDate'],
      [{ ...base, action: 'cancellation', jobs: [{ circuit_number: 'EVO123451', deadline: '2031-01-01T00:00:00Z' }] }, 'jobs[0].deadline'],
      [{ ...base, deadline: '2031-01-01T00:00:00Z' }, 'deadline'],
    ] as const) {
      const res = await post(body);
      expect(res.status, JSON.stringify(body)).to.equal(400);
      expect(res.body.error.field, JSON.stringify(body)).to.equal(field);
    }
    expect(await schedules()).to.equal(0);
  });

  it('refuses a cron expression that fires more often than SCHEDULE_MIN_INTERVAL_MS (5 min), naming cron; accepts every 5 minutes', async () => {
    for (const cron of ['* * * * *', '*/1 * * * *', '* * * * * *', '*/10 * * * * *', '0,2 * * * *', '*/4 * * * *', '0,58 * * * *']) {
      const res = await post({ ...base, name: `too-often-${cron.replace(/[^0-9a-z]/gi, '')}`, cron });
      expect(res.status, cron).to.equal(400);
      expect(res.body.error.field, cron).to.equal('cron');
    }
    // Runs at 23:58 and 00:01 are three minutes apart across midnight.
    const midnight = await post({ ...base, name: 'midnight', cron: '1,58 0,23 * * *' });
    expect(midnight.status).to.equal(400);
    expect(midnight.body.error.message).to.match(/180 s apart/);
    expect(await schedules()).to.equal(0);
    for (const cron of ['*/5 * * * *', '0 6 * * 1-5', '0 */2 * * *', '30 2 1 * *']) {
      const res = await post({ ...base, name: `ok-${cron.replace(/[^0-9a-z]/gi, '')}`, cron });
      expect(res.status, `${cron}: ${JSON.stringify(res.body)}`).to.equal(201);
    }
    expect(await schedules()).to.equal(4);
  });
});
