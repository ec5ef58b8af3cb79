import { expect } from 'chai';
import { valkeySettingsFor } from '../../src/config/valkey-endpoint.js';
import { cancellableCircuit, expectEveryCancellationOnce, submitCancellations } from '../support/exactly-once.js';
import { startSentinelGroup, type SentinelGroup } from '../support/sentinel-group.js';
import { startSystemHarness, type SystemHarness } from '../support/system-harness.js';
import { until } from '../support/worker-process.js';

const PROVIDERS = ['octotel', 'evotel'] as const;

/**
 * The whole system (API, batchers, workers with their sandboxed children, practice portals) on a
 * Valkey it reaches through three sentinels. The master is killed with -9 while batches run; the
 * sentinels promote the replica, every connection follows it, and every job accepted before,
 * during and after the failover ends once: one completion in Postgres, one cancel form on the
 * portal, no TOTP step refused as reused.
 */
describe('the system on Valkey through Sentinel: the master killed mid-run', function () {
  this.timeout(480_000);
  let group: SentinelGroup;
  let harness: SystemHarness;
  let closed = false;

  before(async () => {
    group = await startSentinelGroup();
    harness = await startSystemHarness({
      ...valkeySettingsFor(group.endpoint),
      BATCH_SIZE: '4',
      OCTOTEL_MAX_SESSIONS: '2',
      EVOTEL_MAX_SESSIONS: '2',
    });
    for (const provider of PROVIDERS) await harness.portal(provider, 'POST', '/__sandbox/config', { latency_ms: 100 });
  });
  after(async () => {
    if (!closed) await harness?.close();
    await group?.stop();
  });

  it('follows the promoted replica: every job accepted before, during and after the failover ends once, no TOTP step used twice', async () => {
    const circuits: Record<string, string[]> = { octotel: [], evotel: [] };
    const ids: number[] = [];
    const submit = async (wave: number, counts: Record<(typeof PROVIDERS)[number], number>) => {
      const statuses: number[] = [];
      for (const provider of PROVIDERS) {
        const list = Array.from({ length: counts[provider] }, (_, i) => cancellableCircuit(provider, wave, i));
        const { ids: accepted, status } = await submitCancellations(harness, provider, list);
        statuses.push(status);
        if (status === 202) {
          ids.push(...accepted);
          circuits[provider]!.push(...list);
        }
      }
      return statuses;
    };

    expect(await submit(1, { octotel: 6, evotel: 12 })).to.deep.equal([202, 202]);
    const running = async () => (await harness.database.db.selectFrom('jobs').select('id').where('status', '=', 'running').execute()).length;
    await until(async () => (await running()) > 0, 120_000, 'a job running');

    const firstMaster = await group.master();
    const failover = group.failOver();
    // Accepted while there is no master: the jobs are in Postgres; the sweeper queues them later.
    await new Promise((r) => setTimeout(r, 500));
    expect(await submit(2, { octotel: 2, evotel: 4 }), 'submissions during the failover').to.deep.equal([202, 202]);
    const { promoted } = await failover;
    expect(promoted).not.to.equal(firstMaster.port);
    expect(await submit(3, { octotel: 2, evotel: 4 })).to.deep.equal([202, 202]);

    await expectEveryCancellationOnce(harness, ids, circuits, 360_000);
    expect(ids).to.have.length(30);
    const health = await harness.api('GET', '/health');
    expect(health.body.valkey.ok, JSON.stringify(health.body.valkey)).to.equal(true);
    // Still the promoted server: nothing went back to the old master's address.
    expect((await group.master()).port).to.equal(promoted);

    // Closed, the system leaves no connection to any sentinel behind (no subscriber, no client).
    closed = true;
    await harness.close();
    let left: string[] = [];
    await until(async () => (left = await group.clients()).length === 0, 20_000, 'no connection to a sentinel after the system closed').catch((err: Error) => {
      throw new Error(`${err.message}: ${left.join(' | ')}`);
    });
  });
});
