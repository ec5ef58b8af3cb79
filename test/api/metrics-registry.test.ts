import { expect } from 'chai';
import { sql } from 'kysely';
import { closeBatch, createBatchWithJobs, finishJob, claimBatchRun, startJob, addBatchLogins, currentRun } from '../../src/db/job-transitions.js';
import { LoginCircuitBreaker } from '../../src/processors/login-circuit-breaker.js';
import { JOB_DURATION_BUCKETS, createMetrics } from '../../src/api/metrics/metrics-registry.js';
import { QueueRegistry } from '../../src/queues/queue-registry.js';
import { createValkey } from '../../src/queues/valkey.js';
import { startOperatorHarness, type OperatorHarness } from '../support/operator-harness.js';
import { privateValkey, testLogger } from '../support/shared-services.js';
import { createTestDatabase } from '../support/test-database.js';

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
    expect(before.get('rpa_queue_jobs{queue="jobs-openserve",state="prioritized"}')).to.equal(5);
    expect(before.get('rpa_queue_jobs{queue="jobs-octotel",state="prioritized"}')).to.equal(1);

    // Three complete, one fails, one is handed back; the batch ends, with two logins.
    const { db } = h.database;
    const batch = (await createBatchWithJobs(db, 'openserve', ids.map((jobId) => ({ jobId, trip: 0 })), 'batcher'))!;
    await claimBatchRun(db, batch.batchId, 'w1');
    await addBatchLogins(db, batch.batchId, 2);
    for (const [i, id] of ids.slice(0, 4).entries()) {
      await startJob(db, id, await currentRun(db, batch.batchId), 'w1');
      const failed = i === 3;
      await finishJob(db, id, await currentRun(db, batch.batchId), failed ? { status: 'failed', error: { code: 'INVALID_CIRCUIT', message: 'no' }, evidence: [], cause: 'invalid' } : { status: 'completed', result: { found: true }, evidence: [], cause: 'done' }, 'w1');
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
    // Every provider's series are there at 0 too, so that a rule sees the first failure as a rise.
    expect(m.get('rpa_jobs{provider="openserve",action="validation",status="running"}')).to.equal(0);
    expect(m.get('rpa_jobs{provider="evotel",action="cancellation",status="failed"}')).to.equal(0);
    expect(m.get('rpa_batches{provider="openserve",status="completed"}')).to.equal(1);
    expect(m.get('rpa_batches_created{provider="openserve"}')).to.equal(1);
    expect(m.get('rpa_batches_completed{provider="openserve"}')).to.equal(1);
    expect(m.get('rpa_logins{provider="openserve",outcome="succeeded"}')).to.equal(2);
    expect(m.get('rpa_logins{provider="openserve",outcome="refused"}')).to.equal(0);

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

  it('reports what the alerting rules watch: breakers, the oldest waiting job, batch errors, the batches in progress', async () => {
    const submitter = await h.keyFor('submitter');
    const submit = async (provider: string, circuits: string[]) => {
      const res = await fetch(`${h.url}/jobs/bulk`, {
        method: 'POST',
        headers: { authorization: `Bearer ${submitter}`, 'content-type': 'application/json' },
        body: JSON.stringify({ provider, action: 'validation', jobs: circuits.map((c) => ({ circuit_number: c })) }),
      });
      expect(res.status, await res.clone().text()).to.equal(202);
      return ((await res.json()) as { job_ids: number[] }).job_ids.map(String);
    };
    const evotel = await submit('evotel', ['EVO000011', 'EVO000012', 'EVO000013']);
    const metro = await submit('metrofiber', ['MFN-0000-0011', 'MFN-0000-0012']);
    const { db } = h.database;
    // Due ten minutes ago (metrofiber), and one in retry backoff (not due yet: does not count).
    await db.updateTable('jobs').set({ available_at: sql`now() - interval '600 seconds'` }).where('id', '=', metro[0]!).execute();
    await db.updateTable('jobs').set({ available_at: sql`now() + interval '1 hour'`, created_at: sql`now() - interval '2 hours'` }).where('id', '=', metro[1]!).execute();

    // An evotel batch in progress: 1 of 3 completed.
    const running = (await createBatchWithJobs(db, 'evotel', evotel.map((jobId) => ({ jobId, trip: 0 })), 'batcher'))!;
    await claimBatchRun(db, running.batchId, 'w1');
    await startJob(db, evotel[0]!, await currentRun(db, running.batchId), 'w1');
    await finishJob(db, evotel[0]!, await currentRun(db, running.batchId), { status: 'completed', result: { found: true }, evidence: [], cause: 'done' }, 'w1');
    // An octotel batch that ended because no browser became ready.
    const [oct] = await submit('octotel', ['OCT000021']);
    const failed = (await createBatchWithJobs(db, 'octotel', [{ jobId: oct!, trip: 0 }], 'batcher'))!;
    await closeBatch(db, failed.batchId, 'failed', { code: 'BROWSER_POOL_EXHAUSTED', message: 'no browser service became ready in time' });
    // Openserve's breaker opens after LOGIN_FAILURE_THRESHOLD refused logins.
    const breaker = new LoginCircuitBreaker(h.valkey, h.config.queuePrefix, h.config.loginFailureThreshold, 60_000, testLogger);
    for (let i = 0; i < h.config.loginFailureThreshold; i++) await breaker.recordFailure('openserve', 'LOGIN_REFUSED');

    const m = parse((await scrape(await h.keyFor('viewer'))).text);
    expect(m.get('rpa_login_circuit_breaker_open{provider="openserve"}')).to.equal(1);
    expect(m.get('rpa_login_circuit_breaker_open{provider="octotel"}')).to.equal(0);
    expect(m.get('rpa_oldest_waiting_job_age_seconds{provider="metrofiber"}')).to.be.within(599, 660);
    // Evotel's jobs were submitted just now.
    expect(m.get('rpa_oldest_waiting_job_age_seconds{provider="evotel"}')).to.be.within(0, 60);
    expect(m.get('rpa_oldest_waiting_job_age_seconds{provider="openserve"}')).to.equal(0);
    expect(m.get('rpa_batch_errors{provider="octotel",code="BROWSER_POOL_EXHAUSTED"}')).to.equal(1);
    expect(m.get('rpa_batch_errors{provider="octotel",code="TOTP_REFUSED"}')).to.equal(0);
    expect(m.get('rpa_active_batch_jobs{provider="evotel",state="size"}')).to.equal(3);
    expect(m.get('rpa_active_batch_jobs{provider="evotel",state="completed"}')).to.equal(1);
    expect(m.get('rpa_active_batch_jobs{provider="octotel",state="size"}')).to.equal(0);
    expect(m.get('rpa_totp_codes_today{provider="octotel",event="refused"}')).to.equal(0);
    expect(m.get('rpa_totp_codes_today{provider="openserve",event="refused"}'), 'openserve has no TOTP').to.equal(undefined);
    expect(m.get('rpa_callback_deliveries{state="failed"}')).to.equal(0);
  });
});

describe('metrics when a source is down', () => {
  it('says valkey is down (rpa_metrics_source_up 0) and leaves its figures out, within the source timeout', async function () {
    this.timeout(30_000);
    const database = await createTestDatabase();
    const server = await privateValkey();
    const valkey = createValkey(server.url, 'producer');
    const queues = new QueueRegistry(valkey, 'metrics-down');
    try {
      const breakers = new LoginCircuitBreaker(valkey, 'metrics-down', 3, 60_000, testLogger);
      const metrics = createMetrics({ db: database.db, queues: () => queues.all(), breakers, providers: [{ name: 'octotel', needsTotp: true }], logger: testLogger, sourceTimeoutMs: 2_000 });
      const up = parse(await metrics.scrape());
      expect(up.get('rpa_metrics_source_up{source="valkey"}')).to.equal(1);
      expect(up.get('rpa_login_circuit_breaker_open{provider="octotel"}')).to.equal(0);
      await server.stop();
      const started = Date.now();
      const text = await metrics.scrape();
      expect(Date.now() - started).to.be.below(5_000);
      const down = parse(text);
      expect(down.get('rpa_metrics_source_up{source="valkey"}')).to.equal(0);
      expect(down.get('rpa_metrics_source_up{source="postgres"}')).to.equal(1);
      expect(text).not.to.match(/^rpa_queue_jobs\{/m);
      expect(text).not.to.match(/^rpa_login_circuit_breaker_open\{/m);
      expect(down.get('rpa_jobs{provider="octotel",action="validation",status="pending"}')).to.equal(0);
    } finally {
      await queues.close().catch(() => undefined);
      valkey.disconnect();
      await server.stop().catch(() => undefined);
      await database.drop();
    }
  });
});
