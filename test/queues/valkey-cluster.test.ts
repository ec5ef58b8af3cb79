import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Cluster } from 'iovalkey';
import { PoolDirectory } from '../../src/browser/client/pool-directory.js';
import { LeaderElection } from '../../src/browser/fleet/leader-election.js';
import { LoginCircuitBreaker } from '../../src/processors/login-circuit-breaker.js';
import { BatchFlowProducer } from '../../src/queues/batch-flow.js';
import { batchFlowJobIds, providerJobsQueue } from '../../src/queues/queue-names.js';
import { QueueRegistry } from '../../src/queues/queue-registry.js';
import { watchValkeyResets } from '../../src/queues/valkey-resets.js';
import { createValkey } from '../../src/queues/valkey.js';
import { TotpManager } from '../../src/totp/totp-manager.js';
import { valkeySettingsFor } from '../../src/config/valkey-endpoint.js';
import { testLogger, testRoot, uniquePrefix } from '../support/shared-services.js';
import { startValkeyCluster, type ValkeyCluster } from '../support/valkey-cluster.js';
import { until } from '../support/worker-process.js';

const TOTP_SECRET = 'JBSWY3DPEHPK3PXP';
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * The system's own multi-key commands (Lua scripts, MULTI) on a real three-master Valkey Cluster:
 * each touches keys of one hash tag only, so none is refused with CROSSSLOT; the tags spread over
 * the masters.
 */
describe('the system\'s multi-key commands on a Valkey Cluster (three masters; real processes)', function () {
  this.timeout(120_000);
  let cluster: ValkeyCluster;
  let redis: Cluster;
  const prefix = uniquePrefix('cluster');

  before(async () => {
    cluster = await startValkeyCluster();
    redis = createValkey(cluster.endpoint, 'worker') as Cluster;
  });
  after(async () => {
    redis?.disconnect();
    await cluster?.stop();
  });

  /** The master that owns `key`'s slot. */
  const ownerOf = async (key: string) => {
    const slot = Number(await redis.call('CLUSTER', 'KEYSLOT', key));
    const ranges = (await redis.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>;
    const range = ranges.find(([from, to]) => slot >= from && slot <= to)!;
    return range[2][1];
  };

  it('spreads the installation\'s hash tags over several masters', async () => {
    const owners = new Set(await Promise.all(['octotel', 'openserve', 'metrofiber', 'evotel'].map((p) => ownerOf(`${providerJobsQueue(prefix, p).prefix}:x`))));
    owners.add(await ownerOf(`{${prefix}-browser}:x`));
    owners.add(await ownerOf(`{${prefix}-callbacks}:x`));
    expect(owners.size, 'masters holding the tags').to.be.greaterThan(1);
  });

  it('runs the TOTP reservation script (20 step keys at once) and the counters\' MULTI', async () => {
    const totp = new TotpManager({ redis, prefix, logger: testLogger });
    try {
      const lease = await totp.acquire({ provider: 'octotel', account: 'cluster.user', secret: TOTP_SECRET });
      expect(lease.code).to.match(/^\d{6}$/);
      await lease.report('accepted');
      expect((await totp.stats()).octotel).to.include({ consumed: 1, accepted: 1 });
    } finally {
      await totp.close();
    }
  });

  it('is what `rpa totp status` reads with VALKEY_CLUSTER_NODES and VALKEY_PASSWORD set', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [join(ROOT, 'bin', 'rpa.mjs'), 'totp', 'status', '--json'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, QUEUE_PREFIX: prefix, RPA_DATA_DIR: join(testRoot(), uniquePrefix('cli')), ...valkeySettingsFor(cluster.endpoint) },
    });
    expect(JSON.parse(stdout).providers.octotel).to.include({ consumed: 1, accepted: 1 });
  });

  it('elects a fleet leader (lock and term in one script) and writes a fenced pool registration (lock and directory in one script)', async () => {
    const directory = new PoolDirectory({ redis, prefix });
    const election = new LeaderElection({ redis, key: `{${prefix}-browser}:fleet:configured:leader`, memberId: 'worker-a', ttlMs: 10_000, logger: testLogger, onElected: () => undefined, onDemoted: () => undefined });
    try {
      await election.start();
      expect(election.term()).to.equal(1);
      const entry = { id: 'pool-1', url: 'http://127.0.0.1:9', tokenId: 'configured', freeSlots: 2, busyContexts: 0, registeredBy: 'worker-a' };
      expect(await directory.register(entry, 10_000, election.fence())).to.equal(true);
      expect((await directory.list()).map((e) => e.id)).to.deep.equal(['pool-1']);
    } finally {
      await election.close();
    }
  });

  it('adds a batch flow (parent and child in one provider\'s slot) and counts the breaker\'s failures', async () => {
    const queues = new QueueRegistry(redis, prefix);
    const flows = new BatchFlowProducer(redis, prefix);
    try {
      await flows.add('42', 'evotel');
      const ids = batchFlowJobIds('42');
      expect(await (await queues.batches('evotel').getJob(ids.parent))?.getState()).to.equal('waiting-children');
      expect(await (await queues.batchRuns('evotel').getJob(ids.run))?.getState()).to.equal('prioritized');
      const breaker = new LoginCircuitBreaker(redis, prefix, 2, 60_000, testLogger);
      await breaker.recordFailure('evotel', 'test');
      expect((await breaker.recordFailure('evotel', 'test')).open).to.equal(true);
    } finally {
      await flows.close();
      await queues.close();
    }
  });

  it('notices one master losing its data alone: a marker in each restored hash tag', async () => {
    const keys = ['octotel', 'openserve', 'metrofiber', 'evotel'].map((p) => `${providerJobsQueue(prefix, p).prefix}:valkey-marker`);
    let restores = 0;
    const watch = watchValkeyResets({ redis, keys, restore: async () => void restores++, logger: testLogger, intervalMs: 200 });
    try {
      await until(async () => restores === 1 && (await Promise.all(keys.map((k) => redis.exists(k)))).every((n) => n === 1), 10_000, 'the first restore and the markers');
      // FLUSHALL on the master of one tag only: the others keep their markers.
      const port = await ownerOf(keys[0]!);
      const node = cluster.nodes.find((n) => n.port === port)!;
      const client = node.client();
      try {
        await client.flushall();
      } finally {
        client.disconnect();
      }
      await until(async () => restores === 2, 10_000, 'a restore after one master was wiped');
    } finally {
      await watch.close();
    }
  });
});
