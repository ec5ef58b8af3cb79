import { expect } from 'chai';
import { join } from 'node:path';
import pg from 'pg';
import { createDb, type Db } from '../../src/db/database.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/infra/embedded-postgres.js';
import { testLogger, testRoot, uniquePrefix } from '../support/shared-services.js';
import { SYSTEM_API_KEY, startSystemHarness, type SystemHarness } from '../support/system-harness.js';
import { until } from '../support/worker-process.js';
import { expectOneEndEach } from '../support/exactly-once.js';

const OUTAGE_MS = 62_000;

/**
 * Postgres, the truth, stopped for over a minute mid-batch and started again: the API answers
 * 503 SERVICE_UNAVAILABLE quickly while it is down (no hang, no crash), workers hold, and once it
 * is back every job ends once, each circuit cancelled once.
 */
describe('Postgres stopped mid-batch for over a minute, then started again', function () {
  this.timeout(600_000);
  let postgres: EmbeddedPostgresHandle;
  let harness: SystemHarness;
  let db: Db;

  before(async () => {
    postgres = await startEmbeddedPostgres(join(testRoot(), uniquePrefix('pg-outage')), testLogger);
    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    await admin.query('CREATE DATABASE rpa');
    await admin.end();
    harness = await startSystemHarness({ DATABASE_URL: postgres.urlFor('rpa'), BATCH_SIZE: '8', OPENSERVE_MAX_SESSIONS: '2', EVOTEL_MAX_SESSIONS: '2' });
    db = createDb(postgres.urlFor('rpa'), { max: 2 });
    for (const provider of ['openserve', 'evotel']) await harness.portal(provider, 'POST', '/__sandbox/config', { latency_ms: 150 });
  });
  after(async () => {
    await harness?.close();
    await db?.destroy();
    await postgres?.stop();
  });

  const timed = async <T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> => {
    const started = Date.now();
    const value = await work();
    return { value, ms: Date.now() - started };
  };

  it('answers 503 while it is down, then every job ends once', async () => {
    const ids: number[] = [];
    const circuits = { openserve: Array.from({ length: 16 }, (_, i) => `OSN71${String(i).padStart(4, '0')}${(i % 6) + 1}`), evotel: Array.from({ length: 16 }, (_, i) => `EVO71${String(i).padStart(3, '0')}${(i % 6) + 1}`) };
    for (const [provider, list] of Object.entries(circuits)) {
      const res = await harness.api('POST', '/jobs/bulk', { provider, action: 'cancellation', jobs: list.map((circuit_number) => ({ circuit_number })) });
      expect(res.status, JSON.stringify(res.body)).to.equal(202);
      ids.push(...res.body.job_ids);
    }
    await until(async () => (await db.selectFrom('jobs').select('id').where('status', '=', 'completed').execute()).length >= 3, 180_000, 'the first jobs to complete');
    await postgres.stop();
    const stoppedAt = Date.now();

    // While it is down: quick, clear 503s, no hang.
    const submit = await timed(() => harness.api('POST', '/jobs', { provider: 'evotel', action: 'validation', circuit_number: 'EVO719991' }));
    expect(submit.value.status).to.equal(503);
    expect(submit.value.body.error.code).to.equal('SERVICE_UNAVAILABLE');
    expect(submit.ms, 'POST /jobs answers within a couple of seconds').to.be.below(3_000);
    const read = await timed(() => harness.api('GET', `/jobs/${ids[0]}`));
    expect(read.value.status).to.equal(503);
    expect(read.value.body.error.code).to.equal('SERVICE_UNAVAILABLE');
    expect(read.ms).to.be.below(3_000);
    const ready = await fetch(`${harness.system.apiUrl}/health/ready`);
    expect(ready.status).to.equal(503);

    await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - stoppedAt))));
    await postgres.start();

    const deadline = Date.now() + 420_000;
    for (;;) {
      const open = await db.selectFrom('jobs').select('id').where('id', 'in', ids.map(String)).where('status', 'not in', ['completed', 'failed', 'cancelled']).execute();
      if (open.length === 0) break;
      if (Date.now() > deadline) throw new Error(`${open.length} jobs still open`);
      await new Promise((r) => setTimeout(r, 1_000));
    }
    const rows = await db.selectFrom('jobs').select(['id', 'status', 'result', 'error']).where('id', 'in', ids.map(String)).execute();
    for (const row of rows) {
      expect(row.status, JSON.stringify(row.error)).to.equal('completed');
      expect(row.result).to.include({ cancelled: true, already_cancelled: false });
    }
    await expectOneEndEach(db, ids);
    for (const [provider, list] of Object.entries(circuits)) {
      const stats = await harness.portal(provider, 'GET', '/__sandbox/stats');
      expect(stats.duplicate_cancel_attempts, provider).to.equal(0);
      for (const c of list) expect(stats.cancellations[c], c).to.equal(1);
    }
    const back = await fetch(`${harness.system.apiUrl}/jobs/${ids[0]}`, { headers: { authorization: `Bearer ${SYSTEM_API_KEY}` } });
    expect(back.status).to.equal(200);
    await until(async () => (await db.selectFrom('batches').select('id').where('status', 'in', ['created', 'assigned', 'in_progress']).execute()).length === 0, 180_000, 'every batch closed');
  });
});
