import { expect } from 'chai';
import { sql } from 'kysely';
import { closeBatch, createBatchWithJobs, finishJob, markBatchInProgress, startJob, addBatchLogins } from '../../src/db/job-transitions.js';
import { JOB_DURATION_BUCKETS } from '../../src/api/metrics/metrics-registry.js';
import { startOperatorHarness, type OperatorHarness } from '../support/operator-harness.js';

/** Parses Prometheus text into `name{labels}` → value. */
function parse(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

describe('GET /metrics', () => {
  let h: OperatorHarness;
  beforeEach(async () => {
    h = await startOperatorHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  const scrape = async (key: string | null) => {
    const res = await fetch(`${h.url}/metrics`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
    return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
  };

  it('reports submitted and completed jobs, batches, logins, durations and queue depths as the database and BullMQ say', async () => {
    const submitter = await h.keyFor('submitter');
    const submitted = await fetch(`${h.url}/jobs/bulk`, {
      method: 'POST',
      headers: { authorization: `Bearer ${submitter}`, 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'openserve', action: 'validation', jobs: ['OSN0000101', 'OSN0000102', 'OSN0000103', 'OSN0000104', 'OSN0000105'].map((c) => ({ circuit_number: c })) }),
    });
    expect(submitted.status, await submitted.clone().text()).to.equal(202);
    const ids: string[] = ((await submitted.json()) as { job_ids: number[] }).job_ids.map(String);
    await fetch(`${h.url}/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${submitter}`, 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'octotel', action: 'validation', circuit_number: 'OCT123451' }),
    });

    const before = parse((await scrape(await h.keyFor('viewer'))).text);
    expect(before.get('rpa_jobs{provider="openserve",action="validation",status="pending"}')).to.equal(5);
    expect(before.get('rpa_queue_jobs{queue="jobs-openserve",state="waiting"}')).to.equal(5);
    expect(before.get('rpa_queue_jobs{queue="jobs-octotel",state="waiting"}')).to.equal(1);

    // Three complete, one fails, one is handed back; the batch ends, with two logins.
    const { db } = h.database;
    const batch = (await createBatchWithJobs(db, 'openserve', ids.map((jobId) => ({ jobId, trip: 0 })), 'batcher'))!;
    await markBatchInProgress(db, batch.batchId, 'w1');
    await addBatchLogins(db, batch.batchId, 2);
    for (const [i, id] of ids.slice(0, 4).entries()) {
      await startJob(db, id, batch.batchId, 'w1');
      const failed = i === 3;
      await finishJob(db, id, batch.batchId, failed ? { status: 'failed', error: { code: 'INVALID_CIRCUIT', message: 'no' }, evidence: [], cause: 'invalid' } : { status: 'completed', result: { found: true }, evidence: [], cause: 'done' }, 'w1');
    }
    // Durations the histogram must place: 3 s, 45 s, 200 s for the completed, 0.5 s for the failed one.
    for (const [id, seconds] of [[ids[0], 3], [ids[1], 45], [ids[2], 200], [ids[3], 0.5]] as const) {
      await db.updateTable('jobs').set({ completed_at: sql`started_at + make_interval(secs => ${seconds})` }).where('id', '=', id).execute();
    }
    await closeBatch(db, batch.batchId, 'completed');

    const res = await scrape(await h.keyFor('operator'));
    expect(res.status).to.equal(200);
    expect(res.type).to.match(/^text\/plain/);
    const m = parse(res.text);
    const counts = await db.selectFrom('jobs').select(['provider', 'action', 'status', sql<number>`count(*)::int`.as('n')]).groupBy(['provider', 'action', 'status']).execute();
    expect(counts.length).to.be.greaterThan(1);
    for (const c of counts) expect(m.get(`rpa_jobs{provider="${c.provider}",action="${c.action}",status="${c.status}"}`), `${c.provider} ${c.status}`).to.equal(c.n);
    expect(m.get('rpa_jobs{provider="openserve",action="validation",status="completed"}')).to.equal(3);
    expect(m.get('rpa_jobs{provider="openserve",action="validation",status="failed"}')).to.equal(1);
    expect(m.get('rpa_jobs{provider="openserve",action="validation",status="running"}')).to.equal(undefined);
    expect(m.get('rpa_batches{provider="openserve",status="completed"}')).to.equal(1);
    expect(m.get('rpa_batches_created_total{provider="openserve"}')).to.equal(1);
    expect(m.get('rpa_batches_completed_total{provider="openserve"}')).to.equal(1);
    expect(m.get('rpa_logins_total{provider="openserve",outcome="succeeded"}')).to.equal(2);
    expect(m.get('rpa_logins_total{provider="openserve",outcome="refused"}')).to.equal(0);

    const series = 'provider="openserve",action="validation",status="completed"';
    expect(m.get(`rpa_job_duration_seconds_count{${series}}`)).to.equal(3);
    expect(m.get(`rpa_job_duration_seconds_sum{${series}}`)).to.be.closeTo(248, 0.01);
    const bucket = (le: number | string) => m.get(`rpa_job_duration_seconds_bucket{${series},le="${le}"}`);
    expect(JOB_DURATION_BUCKETS).to.include.members([2, 5, 30, 60, 120, 300]);
    expect([bucket(2), bucket(5), bucket(30), bucket(60), bucket(120), bucket(300), bucket('+Inf')]).to.deep.equal([0, 1, 1, 2, 2, 3, 3]);
    expect(m.get('rpa_job_duration_seconds_bucket{provider="openserve",action="validation",status="failed",le="1"}')).to.equal(1);
    expect(m.get('rpa_batch_duration_seconds_count{provider="openserve",status="completed"}')).to.equal(1);
    expect(m.get('rpa_metrics_source_up{source="postgres"}')).to.equal(1);
    expect(m.get('rpa_metrics_source_up{source="valkey"}')).to.equal(1);
    expect(m.get('rpa_metrics_source_up{source="totp"}')).to.equal(1);
    // No circuit numbers or keys in any label.
    expect(res.text).to.not.match(/OSN00001|OCT123451/);
    expect(res.text).to.not.include(await h.keyFor('operator'));
  });

  it('needs a key with system:read: none is 401, a submitter 403', async () => {
    expect((await scrape(null)).status).to.equal(401);
    const refused = await scrape(await h.keyFor('submitter'));
    expect(refused.status).to.equal(403);
    expect(refused.text).to.not.include('rpa_jobs');
  });
});
