import { expect } from 'chai';
import { startSystemHarness, waitForJobs, type SystemHarness } from '../support/system-harness.js';
import { expectedValidation } from '../support/expected-circuit.js';
import { until } from '../support/worker-process.js';

interface PoolBrowser {
  id: string;
  pid?: number;
  leases: number;
  state: string;
}

describe('a browser killed mid-batch', function () {
  this.timeout(300_000);
  let harness: SystemHarness;

  before(async () => {
    harness = await startSystemHarness({ BATCH_SIZE: '20', BROWSER_POOL_SIZE: '2', EVOTEL_MAX_SESSIONS: '1' });
    await harness.portal('evotel', 'POST', '/__sandbox/config', { latency_ms: 150 });
  });
  after(async () => {
    await harness?.close();
  });

  const browsers = async (): Promise<PoolBrowser[]> => {
    const { url, token } = harness.system.runtime!.browserPool!;
    const res = await fetch(`${url}/browsers`, { headers: { authorization: `Bearer ${token}` } });
    return ((await res.json()) as { browsers: PoolBrowser[] }).browsers;
  };

  it('carries on in a new context on the other browser, with one more login, and every job completes once', async () => {
    const circuits = Array.from({ length: 20 }, (_, i) => `EVO6${String(i).padStart(4, '0')}${(i % 9) + 1}`);
    const res = await harness.api('POST', '/jobs/bulk', { provider: 'evotel', action: 'validation', jobs: circuits.map((circuit_number) => ({ circuit_number })) });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    const ids: number[] = res.body.job_ids;

    const completed = async () =>
      Number((await harness.database.db.selectFrom('jobs').select((eb) => eb.fn.countAll().as('n')).where('status', '=', 'completed').executeTakeFirstOrThrow()).n);
    await until(async () => (await completed()) >= 3, 120_000, 'three jobs done');
    const leased = (await browsers()).find((b) => b.leases > 0 && b.pid);
    expect(leased, 'the browser the batch leased').to.not.equal(undefined);
    process.kill(leased!.pid!, 'SIGKILL');

    const jobs = await waitForJobs(harness, ids, 240_000);
    for (const [i, id] of ids.entries()) {
      const job = jobs.get(id);
      expect(job.status, JSON.stringify(job.error)).to.equal('completed');
      expect(job.result).to.deep.equal(expectedValidation('evotel', circuits[i]!));
      expect(job.attempts, `job ${id} attempts`).to.equal(1);
    }
    const closedBatches = () => harness.database.db.selectFrom('batches').select(['id', 'login_count', 'status']).where('status', '=', 'completed').execute();
    await until(async () => (await closedBatches()).length === 1, 60_000, 'the batch to close');
    const batches = await harness.database.db.selectFrom('batches').select(['id', 'login_count', 'status']).execute();
    expect(batches).to.have.length(1);
    expect(batches[0]!.login_count, 'logins: the first, and one after the crash').to.equal(2);
    const stats = await harness.portal('evotel', 'GET', '/__sandbox/stats');
    expect(stats.logins_ok).to.equal(2);
  });
});
