import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { expect } from 'chai';
import { startPracticePortals, type PracticePortals } from '../../src/portals/practice-portals.js';
import { findDescriptor } from '../../src/providers/descriptors.js';
import { SYSTEM_API_KEY, startSystemHarness, waitForJobs, type SystemHarness } from '../support/system-harness.js';
import { testLogger, testRoot, uniquePrefix } from '../support/shared-services.js';
import { until } from '../support/worker-process.js';

/**
 * How a batch fails, through the whole system (HTTP → batcher → sandboxed processor → real
 * Chromium → practice portal): a refused login, a portal that goes down mid-batch, and a
 * processor file that cannot start.
 */
/** `rpa <args>` against the given services, as an operator runs it; its JSON answer. */
async function runRpa(args: string[], env: Record<string, string>): Promise<any> {
  const { stdout } = await promisify(execFile)(process.execPath, [join(process.cwd(), 'bin', 'rpa.mjs'), ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } });
  return JSON.parse(stdout);
}

describe('batch failures end to end', function () {
  this.timeout(300_000);

  const submit = async (harness: SystemHarness, provider: string, circuits: string[]): Promise<number[]> => {
    const res = await harness.api('POST', '/jobs/bulk', { provider, action: 'validation', jobs: circuits.map((circuit_number) => ({ circuit_number })) });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    return res.body.job_ids;
  };

  describe('a refused login (a wrong password)', () => {
    const WRONG_PASSWORD = 'Wrong-Password-That-Must-Not-Leak-1';
    let portals: PracticePortals;
    let harness: SystemHarness;
    let secrets: string;
    let stats: () => Promise<{ logins_failed: number; logins_ok: number }>;

    before(async () => {
      const evotel = findDescriptor('evotel')!;
      // A real portal whose account does not have the password the system is given, in a
      // SECRETS_DIR file as Kubernetes mounts it (so it can be fixed while the system runs).
      portals = await startPracticePortals({ portals: { evotel: { account: evotel.practiceAccount } }, host: '127.0.0.1', logger: testLogger });
      secrets = join(testRoot(), uniquePrefix('secrets'));
      await mkdir(secrets);
      await writeFile(join(secrets, 'evotel-password'), `${WRONG_PASSWORD}\n`);
      harness = await startSystemHarness({
        SECRETS_DIR: secrets,
        EVOTEL_URL: portals.urls.evotel!,
        EVOTEL_USERNAME: evotel.practiceAccount.login,
        LOGIN_FAILURE_THRESHOLD: '2',
        LOGIN_COOLDOWN_MS: '500',
      });
      stats = async () => (await fetch(`${portals.urls.evotel}/__sandbox/stats`)).json() as Promise<{ logins_failed: number; logins_ok: number }>;
    });
    after(async () => {
      await harness?.close();
      await portals?.close();
    });

    it('fails no job, pauses the provider after LOGIN_FAILURE_THRESHOLD refusals in all (never a retry on a timer), and resumes once the secret is fixed', async () => {
      const [id] = await submit(harness, 'evotel', ['EVO300011']);
      const provider = async () => (await harness.api('GET', '/health')).body.providers.evotel;

      await until(async () => (await provider()).state === 'paused', 120_000, 'evotel to be paused');
      expect(await provider()).to.include({ reason: 'login_refused' });
      // Ten cool-downs later, still no third try: a known-bad password is not retried.
      await new Promise((r) => setTimeout(r, 10 * 500));
      expect((await stats()).logins_failed, 'refused logins on the portal in all').to.equal(2);
      const waiting = (await harness.api('GET', `/jobs/${id}`)).body;
      expect(waiting.status).to.equal('pending');
      expect(waiting.attempts).to.equal(0);
      expect(waiting.error.code).to.equal('LOGIN_REFUSED');
      expect(JSON.stringify(waiting)).not.to.include(WRONG_PASSWORD);
      expect(JSON.stringify((await harness.api('GET', '/health')).body)).not.to.include(WRONG_PASSWORD);
      const events = (await harness.api('GET', `/jobs/${id}/events`)).body.events as { cause: string }[];
      expect(events.some((e) => e.cause.includes('login failed: LOGIN_REFUSED'))).to.equal(true);
      const metrics = await (await fetch(`${harness.system.apiUrl}/metrics`, { headers: { authorization: `Bearer ${SYSTEM_API_KEY}` } })).text();
      expect(metrics).to.match(/rpa_provider_paused\{provider="evotel",reason="login_refused"\} 1/);

      // The operator fixes the secret (a rotated Kubernetes Secret) and resumes the provider.
      await writeFile(join(secrets, 'evotel-password'), `${findDescriptor('evotel')!.practiceAccount.password}\n`);
      await new Promise((r) => setTimeout(r, 2_500));
      const resumed = await runRpa(['providers', 'resume', 'evotel', '--json'], { DATABASE_URL: harness.database.url, RPA_DATA_DIR: harness.system.config.dataDir });
      expect(resumed.provider).to.equal('evotel');
      const [job] = (await waitForJobs(harness, [id!], 120_000)).values();
      expect(job.status, JSON.stringify(job.error)).to.equal('completed');
      expect((await provider()).state).to.equal('running');
      expect((await stats()).logins_failed, 'no refused login after the fix').to.equal(2);
      expect((await stats()).logins_ok).to.be.at.least(1);
    });
  });

  describe('a portal that goes down after the login', () => {
    // Once the batch has logged in and started its first job, every portal request answers 503.
    const goDownAfterLogin = async (harness: SystemHarness) => {
      const running = async () => (await harness.database.db.selectFrom('jobs').select('id').where('status', '=', 'running').execute()).length;
      await until(async () => (await running()) >= 1, 120_000, 'the first job to start');
      await harness.portal('evotel', 'POST', '/__sandbox/config', { error_rate: 1 });
    };

    it('returns the job to a later batch (attempt 1 of 3), which completes it once the portal is back', async () => {
      const harness = await startSystemHarness({ JOB_MAX_ATTEMPTS: '3', LOGIN_FAILURE_THRESHOLD: '100', BATCH_SIZE: '3' });
      try {
        await harness.portal('evotel', 'POST', '/__sandbox/config', { latency_ms: 400 });
        const ids = await submit(harness, 'evotel', ['EVO300021', 'EVO300032', 'EVO300043']);
        await goDownAfterLogin(harness);
        const returned = async () =>
          (await harness.database.db.selectFrom('job_events').select('job_id').where('cause', 'like', 'PORTAL_UNAVAILABLE: retry 2 of 3%').execute()).length;
        await until(async () => (await returned()) >= 1, 120_000, 'a job handed back for a retry');
        await harness.portal('evotel', 'POST', '/__sandbox/config', { error_rate: 0 });

        const jobs = await waitForJobs(harness, ids, 180_000);
        for (const job of jobs.values()) expect(job.status, JSON.stringify(job.error)).to.equal('completed');
        const retried = [...jobs.values()].filter((j) => j.attempts === 2);
        expect(retried.length, 'jobs that needed a second attempt').to.be.at.least(1);
        expect(retried.every((j) => j.result.found === true)).to.equal(true);
      } finally {
        await harness.close();
      }
    });

    it('with JOB_MAX_ATTEMPTS 1 fails the job with PORTAL_UNAVAILABLE and a message, and finishes the batch', async () => {
      const harness = await startSystemHarness({ JOB_MAX_ATTEMPTS: '1', LOGIN_FAILURE_THRESHOLD: '100', BATCH_SIZE: '3' });
      try {
        await harness.portal('evotel', 'POST', '/__sandbox/config', { latency_ms: 400 });
        const ids = await submit(harness, 'evotel', ['EVO300051', 'EVO300062', 'EVO300073']);
        await goDownAfterLogin(harness);
        const jobs = await waitForJobs(harness, ids, 180_000);
        const failed = [...jobs.values()].filter((j) => j.status === 'failed');
        expect(failed.length).to.be.at.least(1);
        for (const job of failed) {
          expect(job.error.code).to.equal('PORTAL_UNAVAILABLE');
          expect(job.error.message).to.match(/\S/);
          expect(job.attempts).to.equal(1);
        }
        for (const job of jobs.values()) expect(job.status).to.be.oneOf(['completed', 'failed']);
      } finally {
        await harness.close();
      }
    });
  });

  describe('a processor file that cannot start', () => {
    it('pauses the worker after 3 batches die at start, says so in /health, and loses no job', async () => {
      const broken = join(testRoot(), `${uniquePrefix('broken')}.mjs`);
      await writeFile(broken, "throw new Error('processor crashed on import');\n");
      const harness = await startSystemHarness({ BATCH_SIZE: '1', OPENSERVE_MAX_SESSIONS: '1' }, { processorFile: broken });
      try {
        const ids = await submit(harness, 'openserve', ['OSN3000011', 'OSN3000022', 'OSN3000033', 'OSN3000044']);
        const unhealthy = async () => {
          const processors = (await harness.api('GET', '/health')).body.batch_processors as Record<string, { healthy: boolean; lastError?: string; pausedUntil?: string }>;
          return Object.entries(processors).find(([, h]) => !h.healthy);
        };
        await until(async () => (await unhealthy()) !== undefined, 120_000, 'the processor health to turn bad');
        const [name, health] = (await unhealthy())!;
        expect(name).to.include('openserve');
        expect(health.pausedUntil).to.be.a('string');
        expect(health.lastError).to.be.a('string').and.not.equal('');

        // Nothing is lost: the jobs wait in Postgres, none failed or completed.
        const rows = await harness.database.db.selectFrom('jobs').select(['id', 'status']).where('id', 'in', ids.map(String)).execute();
        expect(rows).to.have.length(ids.length);
        for (const row of rows) expect(row.status).to.be.oneOf(['pending', 'running']);

        // A test that waits for them in vain says where they are: each job, its batch, the queues.
        const stuck = await waitForJobs(harness, ids, 0).then(
          () => undefined,
          (err: Error) => err.message,
        );
        expect(stuck).to.match(/^4 of 4 jobs still open: \{/);
        const detail = JSON.parse(stuck!.slice(stuck!.indexOf('{')));
        expect(detail.jobs.map((j: { id: string }) => Number(j.id))).to.deep.equal([...ids].sort((a, b) => a - b));
        expect(detail.queues.openserve).to.have.keys('jobs', 'runs');
        expect(detail.unfinished_batches.every((b: { provider: string }) => b.provider === 'openserve')).to.equal(true);
      } finally {
        await harness.close();
      }
    });
  });
});
