import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { processTree } from '../support/process-tree.js';
import { expectedValidation } from '../support/expected-circuit.js';
import { startSystemHarness, waitForJobs, type SystemHarness } from '../support/system-harness.js';
import { until } from '../support/worker-process.js';
import { expectOneEndEach } from '../support/exactly-once.js';

/** The sandboxed batch processors (BullMQ's child main file) running under this test process. */
function batchChildren(): number[] {
  return processTree(process.pid).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('bullmq/dist/cjs/classes/main.js');
    } catch {
      return false;
    }
  });
}

/** Jobs of `ids` that were running at the same moment, at most (from their started/completed times). */
async function mostAtOnce(harness: SystemHarness, ids: string[]): Promise<number> {
  const rows = await harness.database.db.selectFrom('jobs').select(['started_at', 'completed_at']).where('id', 'in', ids).execute();
  const edges = rows.flatMap((r) => [
    { at: new Date(r.started_at!).getTime(), d: 1 },
    { at: new Date(r.completed_at!).getTime(), d: -1 },
  ]);
  edges.sort((a, b) => a.at - b.at || a.d - b.d);
  let now = 0;
  let most = 0;
  for (const e of edges) most = Math.max(most, (now += e.d));
  return most;
}

/** Until no batch of `provider` is open (its sessions logged out): the next test starts with every session free. */
async function batchesClosed(harness: SystemHarness, provider: string): Promise<void> {
  await until(
    async () => (await harness.database.db.selectFrom('batches').select('id').where('provider', '=', provider).where('status', 'not in', ['completed', 'failed']).execute()).length === 0,
    60_000,
    `every ${provider} batch closed`,
  );
}

/** The portal's session ends at once: a tiny idle time, a stats read (which prunes expired sessions), the idle time back. */
async function endPortalSessions(harness: SystemHarness, provider: string): Promise<void> {
  await harness.portal(provider, 'POST', '/__sandbox/config', { session_idle_s: 0.001 });
  await harness.portal(provider, 'GET', '/__sandbox/stats');
  await harness.portal(provider, 'POST', '/__sandbox/config', { session_idle_s: 600 });
}

const circuitsOf = (prefix: string, from: number, n: number, lastDigits: (i: number) => number) =>
  Array.from({ length: n }, (_, i) => `${prefix}${String(from + i).padStart(4, "0")}${lastDigits(i)}`);

describe('throughput: every free session busy, several pages per login, warm children', function () {
  this.timeout(600_000);
  let harness: SystemHarness;

  before(async () => {
    harness = await startSystemHarness({
      BATCH_SIZE: '50',
      BATCH_MAX_WAIT_MS: '500',
      BATCH_WARM_CHILDREN: '2',
      EVOTEL_MAX_SESSIONS: '2',
      EVOTEL_PAGES_PER_SESSION: '4',
      OCTOTEL_MAX_SESSIONS: '1',
      OCTOTEL_PAGES_PER_SESSION: '4',
    });
    for (const provider of ['evotel', 'octotel']) await harness.portal(provider, 'POST', '/__sandbox/config', { latency_ms: 300 });
  });
  after(async () => {
    await harness?.close();
  });

  it('(d) starts the sandboxed children with the worker: a warm child takes the first batch, nothing is forked for it', async () => {
    const health = (await harness.api('GET', '/health')).body.batch_processors as Record<string, { warmChildren: number[] }>;
    const warm = health.evotel!.warmChildren;
    expect(warm, 'warm Evotel children').to.have.length(2);
    const before = batchChildren();
    for (const pid of warm) expect(before, `warm child ${pid} alive`).to.include(pid);

    const circuits = circuitsOf('EVO7', 0, 3, (i) => i + 1);
    const res = await harness.api('POST', '/jobs/bulk', { provider: 'evotel', action: 'validation', jobs: circuits.map((circuit_number) => ({ circuit_number })) });
    expect(res.status).to.equal(202);
    const jobs = await waitForJobs(harness, res.body.job_ids, 120_000);
    for (const [i, id] of (res.body.job_ids as number[]).entries()) expect(jobs.get(id).result).to.deep.equal(expectedValidation('evotel', circuits[i]!));
    const batch = await harness.database.db.selectFrom('batches').select(['id', 'worker']).where('provider', '=', 'evotel').orderBy('id').executeTakeFirstOrThrow();
    const ranIn = Number(batch.worker!.split(':').at(-1));
    expect(warm, `the first batch ran in a warm child (worker ${batch.worker})`).to.include(ranIn);
    expect(batchChildren().sort(), 'the same children as before the batch: none forked').to.deep.equal(before.sort());
  });

  it("(a) splits one provider's backlog over both its sessions: two logins busy at once, never more than its cap", async () => {
    await batchesClosed(harness, 'evotel');
    const circuits = circuitsOf('EVO6', 0, 40, (i) => (i % 9) + 1);
    const res = await harness.api('POST', '/jobs/bulk', { provider: 'evotel', action: 'validation', jobs: circuits.map((circuit_number) => ({ circuit_number })) });
    expect(res.status).to.equal(202);
    const ids: number[] = res.body.job_ids;
    const statsBefore = await harness.portal('evotel', 'GET', '/__sandbox/stats');
    let mostSessions = 0;
    const sampling = (async () => {
      for (let open = true; open; ) {
        mostSessions = Math.max(mostSessions, (await harness.portal('evotel', 'GET', '/__sandbox/stats')).active_sessions);
        const left = await harness.database.db.selectFrom('jobs').select('id').where('id', 'in', ids.map(String)).where('status', 'in', ['pending', 'running']).execute();
        open = left.length > 0;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const jobs = await waitForJobs(harness, ids, 240_000);
    await sampling;
    ids.forEach((id, i) => expect(jobs.get(id).result).to.deep.equal(expectedValidation('evotel', circuits[i]!)));

    const batchIds = [...new Set([...jobs.values()].map((j) => String(j.batch_id)))];
    expect(batchIds, 'two batches, one per session').to.have.length(2);
    // A batch records its logins once it has logged out, after its last job.
    await batchesClosed(harness, 'evotel');
    const batches = await harness.database.db.selectFrom('batches').selectAll().where('id', 'in', batchIds).execute();
    expect(batches.map((b) => b.size).sort()).to.deep.equal([20, 20]);
    const [a, b] = batches as [(typeof batches)[0], (typeof batches)[0]];
    const runsOf = async (batchId: string) =>
      harness.database.db.selectFrom('jobs').select(['started_at', 'completed_at']).where('batch_id', '=', batchId).execute();
    const [ja, jb] = [await runsOf(a.id), await runsOf(b.id)];
    const span = (rows: { started_at: Date | null; completed_at: Date | null }[]) => [Math.min(...rows.map((r) => new Date(r.started_at!).getTime())), Math.max(...rows.map((r) => new Date(r.completed_at!).getTime()))] as const;
    const [sa, sb] = [span(ja), span(jb)];
    expect(sa[0] < sb[1] && sb[0] < sa[1], 'the two batches worked on the portal at the same time').to.equal(true);
    const statsAfter = await harness.portal('evotel', 'GET', '/__sandbox/stats');
    expect(statsAfter.logins_ok - statsBefore.logins_ok, 'one login per batch').to.equal(2);
    expect(mostSessions, 'portal sessions at once').to.be.at.most(2);
    expect(batches.reduce((n, x) => n + x.login_count, 0)).to.equal(2);
  });

  it('(b) runs several pages of one login, and logs in again once, with a fresh TOTP step, when the portal ends the session mid-batch', async () => {
    const circuits = circuitsOf('OCT5', 0, 24, (i) => (i % 8) + 1);
    const before = await harness.portal('octotel', 'GET', '/__sandbox/stats');
    const res = await harness.api('POST', '/jobs/bulk', { provider: 'octotel', action: 'validation', jobs: circuits.map((circuit_number) => ({ circuit_number })) });
    expect(res.status).to.equal(202);
    const ids: number[] = res.body.job_ids;
    const done = async () => (await harness.database.db.selectFrom('jobs').select('id').where('id', 'in', ids.map(String)).where('status', '=', 'completed').execute()).length;
    await until(async () => (await done()) >= 4, 180_000, 'four jobs done');
    await endPortalSessions(harness, 'octotel');

    const jobs = await waitForJobs(harness, ids, 240_000);
    ids.forEach((id, i) => {
      expect(jobs.get(id).status, JSON.stringify(jobs.get(id).error)).to.equal('completed');
      expect(jobs.get(id).result).to.deep.equal(expectedValidation('octotel', circuits[i]!));
      expect(jobs.get(id).attempts, `job ${id} attempts`).to.equal(1);
    });
    const batchIds = [...new Set([...jobs.values()].map((j) => String(j.batch_id)))];
    expect(batchIds, 'one batch (one session)').to.have.length(1);
    await until(async () => (await harness.database.db.selectFrom('batches').select('status').where('id', '=', batchIds[0]!).executeTakeFirstOrThrow()).status === 'completed', 60_000, 'the batch to close');
    const batch = await harness.database.db.selectFrom('batches').selectAll().where('id', '=', batchIds[0]!).executeTakeFirstOrThrow();
    expect(batch.login_count, 'the login and one re-login for every page').to.equal(2);
    const most = await mostAtOnce(harness, ids.map(String));
    expect(most, 'jobs on pages of the one login at once').to.be.within(2, 4);
    const stats = await harness.portal('octotel', 'GET', '/__sandbox/stats');
    expect(stats.logins_ok - before.logins_ok).to.equal(2);
    expect(stats.totp_ok - before.totp_ok, 'one TOTP step per login').to.equal(2);
    expect(stats.totp_rejected_reused).to.equal(0);

    // What the system measured of that session shapes the batch size, shown to operators.
    let sizes: any;
    await until(
      async () => {
        sizes = (await harness.api('GET', '/batches')).body.batch_sizes;
        return sizes?.octotel?.session_expiries >= 1 && sizes.octotel.chosen_by_batcher && /session/.test(sizes.octotel.basis) && !/no session/.test(sizes.octotel.basis);
      },
      30_000,
      'the batcher to size Octotel batches from the expiry',
    );
    expect(sizes.octotel.session_life_ms).to.be.a('number');
    expect(sizes.octotel.size).to.be.within(1, 50);
    expect(sizes.evotel.size, 'no Evotel session seen to end: BATCH_SIZE').to.equal(50);
    const metrics = String((await harness.api('GET', '/metrics')).body);
    expect(metrics).to.match(new RegExp(`^rpa_batch_size\\{provider="octotel"\\} ${sizes.octotel.size}$`, 'm'));
    expect(metrics).to.match(/^rpa_portal_session_lifetime_seconds\{provider="octotel"\} [\d.]+$/m);
    expect(metrics, 'no Evotel session seen to end').to.match(/^rpa_portal_session_lifetime_seconds\{provider="evotel"\} \+Inf$/m);
  });

  it('(c) never cancels a circuit twice with pages in parallel: duplicate jobs, lost answers and a session ended under them', async () => {
    await batchesClosed(harness, 'evotel');
    await harness.portal('evotel', 'POST', '/__sandbox/reset');
    await harness.portal('evotel', 'POST', '/__sandbox/config', { latency_ms: 300 });
    // Two answers to the cancel form are lost (a reset connection): the flow must read, not resubmit.
    await harness.portal('evotel', 'POST', '/__sandbox/faults', { lose_cancel_answers: 2, as: 'reset' });
    const unique = circuitsOf('EVO8', 0, 30, (i) => (i % 8) + 1);
    // Every fifth circuit twice: two jobs of one circuit in one batch never run on two pages at once.
    const circuits = [...unique, ...unique.filter((_, i) => i % 5 === 0)];
    const res = await harness.api('POST', '/jobs/bulk', { provider: 'evotel', action: 'cancellation', jobs: circuits.map((circuit_number) => ({ circuit_number })) });
    expect(res.status).to.equal(202);
    const ids: number[] = res.body.job_ids;
    const done = async () => (await harness.database.db.selectFrom('jobs').select('id').where('id', 'in', ids.map(String)).where('status', '=', 'completed').execute()).length;
    await until(async () => (await done()) >= 8, 180_000, 'eight cancellations done');
    await endPortalSessions(harness, 'evotel');

    const jobs = await waitForJobs(harness, ids, 300_000);
    for (const [i, id] of ids.entries()) {
      const job = jobs.get(id);
      expect(job.status, `${circuits[i]}: ${JSON.stringify(job.error)}`).to.equal('completed');
      expect(job.result).to.include({ found: true, cancelled: true });
    }
    const stats = await harness.portal('evotel', 'GET', '/__sandbox/stats');
    for (const circuit of unique) expect(stats.cancellations[circuit], circuit).to.equal(1);
    expect(stats.duplicate_cancel_attempts, 'cancel forms sent for circuits already cancelled').to.equal(0);
    // Of each circuit's jobs, exactly one cancelled it; the other found it cancelled.
    for (const circuit of unique) {
      const mine = ids.filter((_, i) => circuits[i] === circuit).map((id) => jobs.get(id).result.already_cancelled);
      expect(mine.filter((already: boolean) => !already), circuit).to.have.length(1);
    }
    await expectOneEndEach(harness.database.db, ids);
    await batchesClosed(harness, 'evotel');
    const batches = await harness.database.db.selectFrom('batches').select(['id', 'login_count']).where('id', 'in', [...new Set([...jobs.values()].map((j) => String(j.batch_id)))]).execute();
    const logins = batches.reduce((n, b) => n + b.login_count, 0);
    // Each batch logged in once, and once more if the ended session was under it.
    expect(logins).to.be.within(batches.length, 2 * batches.length);
    expect(await mostAtOnce(harness, ids.map(String)), 'cancellations on several pages at once').to.be.at.least(2);
  });
});
