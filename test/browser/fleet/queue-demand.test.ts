import { expect } from 'chai';
import type { Redis } from 'iovalkey';
import type { Fleet } from '../../../src/browser/fleet/fleet.js';
import { queuedBrowserDemand } from '../../../src/browser/fleet/queue-demand.js';
import { QueueRegistry } from '../../../src/queues/queue-registry.js';
import { createValkey } from '../../../src/queues/valkey.js';
import { sharedValkey, testLogger, uniquePrefix } from '../../support/shared-services.js';
import { FakeKubeApiServer, FakePoolHealth } from '../fake-kube-api-server.js';
import { waitFor } from '../pool-fixture.js';
import { FLEET_NS, FLEET_TOKEN, kubeFleet } from './fleet-fixture.js';

describe('queue demand: the fleet leader\'s pods follow the provider queues (real Valkey, fake API server)', function () {
  this.timeout(60_000);
  let api: FakeKubeApiServer;
  let health: FakePoolHealth;
  let queues: QueueRegistry;
  let redis: Redis;
  let fleet: Fleet | undefined;
  let prefix: string;

  beforeEach(async () => {
    api = await new FakeKubeApiServer().start();
    health = await new FakePoolHealth(FLEET_TOKEN).start();
    api.seedPod(FLEET_NS, { metadata: { name: 'rpa-worker-a', uid: 'uid-a' }, status: { phase: 'Running' } });
    redis = createValkey((await sharedValkey()).url, 'producer');
    prefix = uniquePrefix('demand');
    queues = new QueueRegistry(redis, prefix);
  });

  afterEach(async () => {
    await fleet?.close();
    fleet = undefined;
    await queues.close();
    redis.disconnect();
    await api.close();
    await health.close();
  });

  const livePods = () => [...api.pods.values()].filter((p) => p.metadata.labels?.['app.kubernetes.io/component'] === 'browser-pool').length;

  it('counts waiting provider jobs and batch runs, and the leader scales pods with them (a failed count is retried)', async () => {
    const jobs = queues.providerJobs('octotel');
    await jobs.addBulk(Array.from({ length: 25 }, (_, i) => ({ name: 'job', data: { i }, opts: { jobId: `j${i}` } })));
    await queues.batchRuns('evotel').add('run', { batch: 1 }, { jobId: 'b1' });
    expect(await queuedBrowserDemand(queues, 10)).to.equal(35);

    let failNext = true;
    fleet = kubeFleet({
      kubeConfig: api.kubeConfig(),
      redis,
      prefix,
      pod: { name: 'rpa-worker-a', uid: 'uid-a' },
      poolPort: health.port,
      maxPools: 3,
      jobsPerPool: 20,
      idleTimeoutMs: 500,
      logger: testLogger,
      demand: async () => {
        if (failNext) {
          failNext = false;
          throw new Error('Valkey hiccup');
        }
        return queuedBrowserDemand(queues, 10);
      },
    });
    await fleet.start();
    expect(fleet.isLeader()).to.equal(true);
    // The first round failed: nothing created, no crash, and the fleet says why it is not ready.
    expect(api.requestsFor('POST')).to.have.length(0);
    expect((await fleet.health()).last_round).to.include({ ok: false });
    await waitFor('two pods for 35 queued jobs', () => livePods() === 2);
    await waitFor('the fleet ready again', async () => (await fleet!.ready()).ok);

    await jobs.addBulk(Array.from({ length: 100 }, (_, i) => ({ name: 'job', data: { i }, opts: { jobId: `k${i}` } })));
    await waitFor('three pods (the maximum)', () => livePods() === 3);
    await new Promise((r) => setTimeout(r, 600));
    expect(livePods(), 'never more than the maximum').to.equal(3);

    await jobs.obliterate({ force: true });
    await queues.batchRuns('evotel').obliterate({ force: true });
    expect(await queuedBrowserDemand(queues, 10)).to.equal(0);
    await waitFor('every idle pod deleted', () => livePods() === 0);
    expect(api.deleted).to.have.length(3);
    expect(api.requestsFor('POST')).to.have.length(3);
  });
});
