import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { expectedValidation } from '../support/expected-circuit.js';
import { sharedValkey } from '../support/shared-services.js';
import { startSystemHarness, SYSTEM_API_KEY, waitForJobs, type SystemHarness } from '../support/system-harness.js';

const exec = promisify(execFile);

describe('rpa batches requeue against the running system (practice portals, real browsers)', function () {
  this.timeout(300_000);
  let harness: SystemHarness;
  before(async () => {
    // The fixture below is a stranded batch: the reaper would hand its jobs back before the
    // operator's requeue (it did once on a slow machine), and this test is about the requeue.
    harness = await startSystemHarness({ BATCH_SIZE: '10' }, { reaper: false });
  });
  after(async () => {
    await harness?.close();
  });

  it('a batch that failed part-way: only its unfinished jobs come back, they complete, a second requeue does nothing', async () => {
    const { db } = harness.database;
    const circuits = ['OSN0042001', 'OSN0042002', 'OSN0042003', 'OSN0042004'];
    // As a batch whose browser died would leave it: one completed, one failed, one running, one never started.
    const { batchId, ids } = await db.transaction().execute(async (trx) => {
      const batch = await trx
        .insertInto('batches')
        .values({ provider: 'openserve', status: 'failed', size: 4, completed_count: 1, failed_count: 1, error: JSON.stringify({ code: 'BROWSER_GONE', message: 'the browser died' }), started_at: new Date(), finished_at: new Date() })
        .returning('id')
        .executeTakeFirstOrThrow();
      const statuses = ['completed', 'failed', 'running', 'pending'] as const;
      const rows = await trx
        .insertInto('jobs')
        .values(
          circuits.map((c, i) => ({
            provider: 'openserve',
            action: 'validation' as const,
            circuit_number: c,
            parameters: JSON.stringify({ circuit_number: c }),
            status: statuses[i],
            batch_id: batch.id,
            attempts: i === 3 ? 0 : 1,
            max_attempts: 3,
            request_hash: `requeue-${i}`,
            result: i === 0 ? JSON.stringify({ found: true, circuit_number: c, marker: 'first run' }) : null,
            error: i === 1 ? JSON.stringify({ code: 'PORTAL_UNAVAILABLE', message: 'portal answered 503' }) : null,
            started_at: i < 3 ? new Date() : null,
            completed_at: i < 2 ? new Date() : null,
          })),
        )
        .returning('id')
        .execute();
      await sql`INSERT INTO batch_jobs (batch_id, job_id, position, attempt) SELECT ${batch.id}, id, ord - 1, 0 FROM unnest(${rows.map((r) => r.id)}::bigint[]) WITH ORDINALITY AS t(id, ord)`.execute(trx);
      return { batchId: batch.id, ids: rows.map((r) => r.id) };
    });

    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATABASE_URL: harness.database.url,
      VALKEY_URL: (await sharedValkey()).url,
      QUEUE_PREFIX: harness.system.config.queuePrefix,
      RPA_DATA_DIR: harness.system.config.dataDir,
    };
    const rpa = async (...args: string[]) => JSON.parse((await exec(process.execPath, [join(process.cwd(), 'bin', 'rpa.mjs'), ...args, '--json'], { env })).stdout);

    const dry = await rpa('batches', 'requeue', batchId, '--dry-run');
    expect(dry.requeued.map((r: { id: string }) => r.id)).to.deep.equal(ids.slice(1));
    expect((await db.selectFrom('jobs').select('status').where('id', '=', ids[3]!).executeTakeFirstOrThrow()).status).to.equal('pending');

    const first = await rpa('batches', 'requeue', batchId, '--reason', 'browser died', '--actor', 'on-call');
    expect(first.requeued.map((r: { id: string }) => r.id)).to.deep.equal(ids.slice(1));
    expect(first.enqueued).to.equal(true);

    const jobs = await waitForJobs(harness, ids.slice(1).map(Number), 240_000);
    for (const [i, id] of ids.slice(1).entries()) {
      const job = jobs.get(Number(id));
      expect(job.status, JSON.stringify(job.error)).to.equal('completed');
      expect(job.result).to.deep.equal(expectedValidation('openserve', circuits[i + 1]!));
      expect(job.attempts).to.equal(1);
      expect(job.batch_id).to.not.equal(Number(batchId));
    }
    const untouched = await db.selectFrom('jobs').selectAll().where('id', '=', ids[0]!).executeTakeFirstOrThrow();
    expect(untouched).to.include({ status: 'completed', batch_id: batchId });
    expect(untouched.result).to.deep.equal({ found: true, circuit_number: circuits[0], marker: 'first run' });

    // The running system's /metrics agrees with Postgres, and reads the pool and TOTP counters.
    const res = await fetch(`${harness.system.apiUrl}/metrics`, { headers: { authorization: `Bearer ${SYSTEM_API_KEY}` } });
    expect(res.status).to.equal(200);
    const metrics = new Map((await res.text()).split('\n').filter((l) => l && !l.startsWith('#')).map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]));
    const counts = await db.selectFrom('jobs').select(['provider', 'action', 'status', sql<number>`count(*)::int`.as('n')]).groupBy(['provider', 'action', 'status']).execute();
    for (const c of counts) expect(metrics.get(`rpa_jobs{provider="${c.provider}",action="${c.action}",status="${c.status}"}`)).to.equal(c.n);
    expect(metrics.get('rpa_jobs{provider="openserve",action="validation",status="completed"}')).to.equal(4);
    expect(metrics.get('rpa_batches{provider="openserve",status="completed"}')).to.equal(1);
    expect(metrics.get('rpa_logins{provider="openserve",outcome="succeeded"}')).to.equal(1);
    expect(metrics.get('rpa_metrics_source_up{source="browser_pool"}')).to.equal(1);
    expect(metrics.get('rpa_browser_pool_size')).to.equal(2);
    expect(metrics.get('rpa_metrics_source_up{source="totp"}')).to.equal(1);
    expect(metrics.get('rpa_job_duration_seconds_count{provider="openserve",action="validation",status="completed"}')).to.equal(4);

    const second = await rpa('batches', 'requeue', batchId);
    expect(second.requeued).to.deep.equal([]);
    const events = await db.selectFrom('job_events').select(['job_id', 'actor', 'cause']).where('cause', 'like', 'requeued by operator%').execute();
    expect(events).to.have.length(3);
    expect(events.every((e) => e.actor === 'on-call' && e.cause === 'requeued by operator: browser died')).to.equal(true);
  });
});
