import { expect } from 'chai';
import { Redis } from 'iovalkey';
import type { EmbeddedValkeyHandle } from '../../src/infra/embedded-valkey.js';
import { privateValkey } from '../support/shared-services.js';
import { startSystemHarness, waitForJobs, type SystemHarness } from '../support/system-harness.js';
import { until } from '../support/worker-process.js';
import { expectOneEndEach } from '../support/exactly-once.js';

const LOCK_MS = 4_000;
const PROVIDERS = ['octotel', 'evotel'] as const;
const circuit = (provider: (typeof PROVIDERS)[number], wave: number, i: number) =>
  provider === 'octotel' ? `OCT${wave}${String(i).padStart(4, '0')}${(i % 6) + 1}` : `EVO${wave}${String(i).padStart(4, '0')}${(i % 6) + 1}`;

/**
 * Valkey is not the truth: killed mid-run for longer than a batch lock and restarted, or wiped
 * with FLUSHALL mid-run, every job accepted before, during and after ends once, no cancel form
 * is sent twice, no TOTP step is refused as reused, and no batch is left in progress.
 */
describe('Valkey killed, or wiped, mid-run', function () {
  this.timeout(600_000);
  let valkey: EmbeddedValkeyHandle;
  let harness: SystemHarness;

  before(async () => {
    valkey = await privateValkey();
    harness = await startSystemHarness({ VALKEY_URL: valkey.url, BATCH_SIZE: '6', BATCH_LOCK_DURATION_MS: String(LOCK_MS), OCTOTEL_MAX_SESSIONS: '2', EVOTEL_MAX_SESSIONS: '2' });
    for (const provider of PROVIDERS) await harness.portal(provider, 'POST', '/__sandbox/config', { latency_ms: 100 });
  });
  after(async () => {
    await harness?.close();
    await valkey?.stop();
  });

  async function submitWave(wave: number, count: number): Promise<{ ids: number[]; statuses: number[] }> {
    const ids: number[] = [];
    const statuses: number[] = [];
    for (const provider of PROVIDERS) {
      const res = await harness.api('POST', '/jobs/bulk', { provider, action: 'cancellation', jobs: Array.from({ length: count }, (_, i) => ({ circuit_number: circuit(provider, wave, i) })) });
      statuses.push(res.status);
      if (res.status === 202) ids.push(...res.body.job_ids);
    }
    return { ids, statuses };
  }

  /** `waves`: each wave submitted and its number of circuits per provider. */
  async function expectEveryJobOnce(ids: number[], waves: [wave: number, count: number][]): Promise<void> {
    const jobs = await waitForJobs(harness, ids, 420_000);
    for (const job of jobs.values()) {
      expect(job.status, JSON.stringify(job.error)).to.equal('completed');
      expect(job.result).to.include({ cancelled: true, already_cancelled: false });
    }
    await expectOneEndEach(harness.database.db, ids);
    for (const provider of PROVIDERS) {
      const stats = await harness.portal(provider, 'GET', '/__sandbox/stats');
      expect(stats.duplicate_cancel_attempts, `${provider}: cancel forms sent twice`).to.equal(0);
      expect(stats.totp_rejected_reused, `${provider}: TOTP steps refused as reused`).to.equal(0);
      for (const [wave, count] of waves) for (let i = 0; i < count; i++) expect(stats.cancellations[circuit(provider, wave, i)], circuit(provider, wave, i)).to.equal(1);
    }
    await until(
      async () => (await harness.database.db.selectFrom('batches').select('id').where('status', 'in', ['created', 'assigned', 'in_progress']).execute()).length === 0,
      180_000,
      'no batch left in progress',
    );
  }

  it('killed for longer than a batch lock, then restarted: submissions during the outage got 202; every job ends once', async () => {
    const before = await submitWave(1, 15);
    const running = async () => (await harness.database.db.selectFrom('jobs').select('id').where('status', '=', 'running').execute()).length;
    await until(async () => (await running()) > 0, 120_000, 'a job running');
    await valkey.kill();
    const during = await submitWave(2, 4);
    expect(during.statuses, 'submissions while Valkey is down').to.deep.equal([202, 202]);
    const ready = await harness.api('GET', '/health/ready');
    expect(ready.status, 'the API stays ready: it still takes jobs').to.equal(200);
    await new Promise((r) => setTimeout(r, 2 * LOCK_MS));
    await valkey.restart();
    const after = await submitWave(3, 4);
    await expectEveryJobOnce([...before.ids, ...during.ids, ...after.ids], [[1, 15], [2, 4], [3, 4]]);
    const firstWave = await waitForJobs(harness, before.ids, 60_000);
    expect([...firstWave.values()].every((j) => j.status === 'completed')).to.equal(true);
  });

  it('wiped with FLUSHALL mid-run: every job ends once, no TOTP step used twice, nothing left in progress', async () => {
    const before = await submitWave(4, 15);
    const running = async () => (await harness.database.db.selectFrom('jobs').select('id').where('status', '=', 'running').execute()).length;
    await until(async () => (await running()) > 0, 120_000, 'a job running');
    const client = new Redis(valkey.url);
    try {
      await client.flushall();
    } finally {
      client.disconnect();
    }
    const after = await submitWave(5, 4);
    await expectEveryJobOnce([...before.ids, ...after.ids], [[4, 15], [5, 4]]);
    // What Valkey lost is back: the session caps of the batch-run queues.
    const check = new Redis(valkey.url);
    try {
      const meta = await check.keys('*batch-run-*:meta');
      expect(meta.length, 'batch-run queues have their meta (session cap) again').to.be.greaterThan(0);
    } finally {
      check.disconnect();
    }
  });
});
