import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { providerEvents } from '../../src/db/provider-store.js';
import { SYSTEM_API_KEY, startSystemHarness, waitForJobs, type SystemHarness } from '../support/system-harness.js';

const exec = promisify(execFile);

/** Polls `probe` every 250 ms until it returns a truthy value, or throws after `ms`. */
async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(250);
  }
}

/**
 * Issue 17 through HTTP on the practice portals: a portal that changes under a running system
 * pauses its provider (and only it) instead of failing its jobs; a maintenance window holds a
 * provider's batches; priorities and deadlines; a dry-run cancellation.
 */
describe('provider operations on the practice portals', function () {
  this.timeout(600_000);
  let harness: SystemHarness;
  const statuses = async (ids: number[]) =>
    harness.database.db.selectFrom('jobs').select(['id', 'status', 'started_at', 'error', 'attempts']).where('id', 'in', ids.map(String)).orderBy('id').execute();
  const submit = async (provider: string, action: string, jobs: object[], extra: object = {}): Promise<number[]> => {
    const res = await harness.api('POST', '/jobs/bulk', { provider, action, jobs, ...extra });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    return res.body.job_ids;
  };
  const providerState = async (provider: string) => (await harness.api('GET', '/providers')).body.providers[provider];

  before(async () => {
    harness = await startSystemHarness({ BATCH_SIZE: '3', METROFIBER_MAX_SESSIONS: '1', EVOTEL_MAX_SESSIONS: '1' });
    for (const p of ['evotel', 'openserve', 'metrofiber', 'octotel']) await harness.portal(p, 'POST', '/__sandbox/reset');
  });
  after(async () => harness?.close());

  it('a portal switched to drift mid-run: at most 3 of its jobs fail, the provider pauses, the rest wait; others complete; resume is refused while drifted, then one resume completes every job', async () => {
    await harness.portal('evotel', 'POST', '/__sandbox/config', { latency_ms: 150 });
    const evotel = await submit('evotel', 'validation', Array.from({ length: 12 }, (_, i) => ({ circuit_number: `EVO7${String(i).padStart(4, '0')}1` })));
    const openserve = await submit('openserve', 'validation', Array.from({ length: 4 }, (_, i) => ({ circuit_number: `OSN71${String(i).padStart(4, '0')}2` })));
    await until('a first evotel job to complete', 120_000, async () => (await statuses(evotel)).some((j) => j.status === 'completed'));
    await harness.portal('evotel', 'POST', '/__sandbox/config', { drift: true });

    const paused = await until('evotel to pause for contract drift', 180_000, async () => {
      const state = await providerState('evotel');
      return state?.state === 'paused' && state;
    });
    expect(paused).to.include({ reason: 'contract_drift' });
    const health = await harness.api('GET', '/health');
    expect(health.body.providers.evotel).to.include({ state: 'paused', reason: 'contract_drift' });
    const metrics = await harness.api('GET', '/metrics');
    expect(metrics.body).to.match(/^rpa_provider_paused\{provider="evotel",reason="contract_drift"\} 1$/m);

    // The batch in hand stops; nothing of evotel runs while it is paused.
    await until('no evotel job running', 60_000, async () => !(await statuses(evotel)).some((j) => j.status === 'running'));
    const during = await statuses(evotel);
    const failed = during.filter((j) => j.status === 'failed');
    expect(failed.length, JSON.stringify(failed)).to.be.at.most(3);
    for (const j of failed) expect(j.error?.code).to.equal('PAGE_CONTRACT_MISMATCH');
    const waiting = during.filter((j) => j.status === 'pending');
    expect(waiting.length).to.be.above(0);
    expect(during.filter((j) => j.status === 'completed').length + failed.length + waiting.length).to.equal(evotel.length);
    await sleep(4_000);
    expect((await statuses(evotel)).filter((j) => j.status === 'pending').length, 'the waiting jobs wait').to.equal(waiting.length);

    // The pause carries its evidence: the selectors, a DOM snippet, a screenshot.
    const pauseEvent = (await providerEvents(harness.database.db, 'evotel')).find((e) => e.kind === 'paused');
    expect(pauseEvent?.details).to.include({ reason: 'contract_drift' });
    expect(pauseEvent?.details?.selector).to.be.a('string').that.is.not.empty;
    expect(pauseEvent?.details?.dom_snippet).to.be.a('string').that.is.not.empty;
    const screenshots = pauseEvent?.details?.screenshots as string[];
    expect(screenshots).to.have.length.above(0);
    for (const key of screenshots) expect(existsSync(join(harness.system.config.evidenceDir, key)), key).to.equal(true);

    // Other providers are unaffected.
    for (const job of (await waitForJobs(harness, openserve, 180_000)).values()) expect(job.status).to.equal('completed');
    expect((await providerState('openserve')).state).to.equal('running');

    // A resume while the pages still do not match is refused with the reason.
    const refused = await harness.api('POST', '/providers/evotel/resume', {});
    expect(refused.status, JSON.stringify(refused.body)).to.equal(409);
    expect(refused.body.error.code).to.equal('RESUME_REFUSED');
    expect(refused.body.error.message).to.match(/PAGE_CONTRACT_MISMATCH/);
    expect((await providerState('evotel')).state).to.equal('paused');

    await harness.portal('evotel', 'POST', '/__sandbox/config', { drift: false, latency_ms: 0 });
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: harness.database.url, VALKEY_URL: harness.system.runtime!.valkeyUrl!, QUEUE_PREFIX: harness.system.config.queuePrefix, RPA_DATA_DIR: harness.system.config.dataDir };
    const { stdout } = await exec(process.execPath, [join(process.cwd(), 'bin', 'rpa.mjs'), 'providers', 'resume', 'evotel', '--json'], { env });
    const resumed = JSON.parse(stdout);
    expect(resumed).to.deep.include({ provider: 'evotel', resumed: true });
    expect(resumed.canary).to.include({ ok: true });

    const ended = await waitForJobs(harness, evotel, 240_000);
    const endedFailed = [...ended.values()].filter((j) => j.status !== 'completed');
    expect(endedFailed.length).to.be.at.most(failed.length);
    expect(ended.size - endedFailed.length).to.equal(evotel.length - failed.length);
    expect((await providerState('evotel')).state).to.equal('running');
  });

  it('a maintenance window over the next minute: no batch of the provider starts in it, jobs submitted then complete after it, none failed', async () => {
    const bad = await harness.api('PUT', '/providers/openserve/windows', { maintenance: [{ cron: '0 2 * * sun', duration: 'forever' }] });
    expect(bad.status).to.equal(400);
    expect(bad.body.error.field).to.equal('maintenance[0].duration');

    const startsAt = new Date(Date.now() + 3_000);
    const endsAt = new Date(startsAt.getTime() + 45_000);
    const put = await harness.api('PUT', '/providers/openserve/windows', { maintenance: [{ starts_at: startsAt.toISOString(), ends_at: endsAt.toISOString(), label: 'test window' }] });
    expect(put.status, JSON.stringify(put.body)).to.equal(200);
    expect(put.body).to.include({ source: 'operator' });
    await sleep(startsAt.getTime() - Date.now() + 250);
    expect((await harness.api('GET', '/providers/openserve/windows')).body.now).to.include({ open: false, reason: 'maintenance', label: 'test window' });
    expect(await providerState('openserve')).to.include({ state: 'closed', reason: 'maintenance' });

    const ids = await submit('openserve', 'validation', Array.from({ length: 4 }, (_, i) => ({ circuit_number: `OSN72${String(i).padStart(4, '0')}3` })));
    await sleep(10_000);
    expect((await statuses(ids)).every((j) => j.status === 'pending' && j.started_at === null), 'they wait in the window').to.equal(true);

    const jobs = await waitForJobs(harness, ids, 180_000);
    for (const job of jobs.values()) {
      expect(job.status, JSON.stringify(job.error)).to.equal('completed');
      expect(new Date(job.started_at).getTime()).to.be.at.least(endsAt.getTime());
    }
    const inWindow = await harness.database.db
      .selectFrom('batches')
      .select(['id', 'started_at'])
      .where('provider', '=', 'openserve')
      .where('started_at', '>=', startsAt)
      .where('started_at', '<', endsAt)
      .execute();
    expect(inWindow, 'batches started in the window').to.deep.equal([]);
    expect((await harness.api('DELETE', '/providers/openserve/windows')).body).to.include({ source: 'config' });
  });

  it('high-priority jobs submitted after a low-priority backlog start first; a deadline that passes before the start ends DEADLINE_EXCEEDED', async () => {
    await harness.portal('metrofiber', 'POST', '/__sandbox/config', { latency_ms: 150 });
    const circuit = (n: number) => `MFN-72${String(n).padStart(2, '0')}-0001`;
    const low = await submit('metrofiber', 'validation', Array.from({ length: 9 }, (_, i) => ({ circuit_number: circuit(i), priority: 'low' })));
    await until('a first low job to start', 120_000, async () => (await statuses(low)).some((j) => j.started_at !== null));
    // The batch in progress finishes its own jobs unless the high ones wait too long for a
    // session; every low job not in it must start after them.
    const running = (await harness.database.db.selectFrom('batches').select('id').where('provider', '=', 'metrofiber').where('status', '=', 'in_progress').execute()).map((b) => b.id);
    const rows = await harness.database.db.selectFrom('jobs').select(['id', 'batch_id', 'started_at']).where('id', 'in', low.map(String)).execute();
    const notStarted = rows.filter((j) => j.started_at === null && !running.includes(j.batch_id ?? '')).map((j) => j.id);
    expect(notStarted.length).to.be.at.least(3);
    const high = await submit('metrofiber', 'validation', [{ circuit_number: circuit(50), priority: 'high' }, { circuit_number: circuit(51), priority: 'high' }]);
    // Behind a backlog it cannot start in two seconds; one already past ends at once.
    const [late] = await submit('metrofiber', 'validation', [{ circuit_number: circuit(60), priority: 'low', deadline: new Date(Date.now() + 2_000).toISOString() }]);
    const [pastDue] = await submit('metrofiber', 'validation', [{ circuit_number: circuit(61), deadline: new Date(Date.now() - 60_000).toISOString() }]);
    const metrics = await harness.api('GET', '/metrics');
    expect(metrics.body).to.match(/^rpa_jobs_at_risk\{provider="metrofiber"\} [1-9]/m);

    const jobs = await waitForJobs(harness, [...low, ...high, late!, pastDue!], 300_000);
    const startOf = (id: number | string) => new Date(jobs.get(Number(id)).started_at).getTime();
    const lastHigh = Math.max(...high.map(startOf));
    for (const id of high) expect(jobs.get(id).status).to.equal('completed');
    for (const id of notStarted) expect(startOf(id), `low job ${id} started before the high ones`).to.be.above(lastHigh);
    for (const id of [late!, pastDue!]) {
      const job = jobs.get(id);
      expect(job.status).to.equal('failed');
      expect(job.error.code).to.equal('DEADLINE_EXCEEDED');
      expect(job.started_at, 'it never ran').to.equal(null);
    }
  });

  it('a dry-run cancellation fills the form, keeps it as evidence and submits nothing', async () => {
    const before = await harness.portal('octotel', 'GET', '/__sandbox/stats');
    const [id] = await submit('octotel', 'cancellation', [{ circuit_number: 'OCT730001', reason: 'customer_request', dry_run: true }]);
    const job = (await waitForJobs(harness, [id!], 180_000)).get(id!);
    expect(job.status, JSON.stringify(job.error)).to.equal('completed');
    expect(job.result).to.include({ dry_run: true, cancelled: false });
    expect(job.parameters).to.include({ dry_run: true });
    const filled = (job.evidence as Array<{ name: string; step: string; url: string }>).filter((item) => item.step === 'filled-form');
    expect(filled).to.have.length(1);
    const image = await fetch(new URL(filled[0]!.url, harness.system.apiUrl), { headers: { authorization: `Bearer ${SYSTEM_API_KEY}` } });
    expect(image.status).to.equal(200);
    expect(image.headers.get('content-type')).to.match(/^image\//);
    const after = await harness.portal('octotel', 'GET', '/__sandbox/stats');
    expect(after.cancellations).to.deep.equal(before.cancellations);
    expect(after.cancellations).to.not.have.property('OCT730001');
    const intents = await harness.database.db.selectFrom('cancellation_intents').select('state').where('job_id', '=', String(id)).execute();
    expect(intents.map((i) => i.state)).to.deep.equal(['dry_run']);
    // The circuit is still active, and a real cancellation of it still works.
    const validation = (await waitForJobs(harness, await submit('octotel', 'validation', [{ circuit_number: 'OCT730001' }]), 180_000)).values().next().value;
    expect(validation.result).to.include({ status: 'active' });
  });
});
