import { expect } from 'chai';
import { loadConfig } from '../../src/config/config.js';
import { createValkey } from '../../src/queues/valkey.js';
import { QueueRegistry } from '../../src/queues/queue-registry.js';
import { BrowserCapacityFeeder, queuedBrowserDemand } from '../../src/browser/browser-capacity-feeder.js';
import { KubernetesBrowserServiceManager } from '../../src/browser/kubernetes-browser-service-manager.js';
import { sharedValkey, testLogger, uniquePrefix } from '../support/shared-services.js';
import { FakeKubeApiServer, FakePoolHealth } from './fake-kube-api-server.js';

const NS = 'rpa-feeder';
const TOKEN = 'feeder-pool-token-0123456789';

describe('BrowserCapacityFeeder: browser pods follow the provider queues (real Valkey, fake API server)', () => {
  let api: FakeKubeApiServer;
  let health: FakePoolHealth;
  let queues: QueueRegistry;
  let redis: ReturnType<typeof createValkey>;
  let manager: KubernetesBrowserServiceManager;
  let clock = Date.parse('2026-11-22T10:00:00Z'); // a Sunday: no warm pool

  beforeEach(async () => {
    api = await new FakeKubeApiServer().start();
    health = await new FakePoolHealth(TOKEN).start();
    redis = createValkey((await sharedValkey()).url, 'producer');
    queues = new QueueRegistry(redis, uniquePrefix('feeder'));
    const config = loadConfig({
      env: {
        BROWSER_MANAGER_MODE: 'kubernetes',
        BROWSER_POOL_TOKEN: TOKEN,
        BROWSER_K8S_NAMESPACE: NS,
        BROWSER_K8S_POOL_PORT: String(health.port),
        BROWSER_MAX_POOLS: '3',
        BROWSER_JOBS_PER_POOL: '20',
        BROWSER_IDLE_TIMEOUT_MS: '1000',
        BROWSER_BUSINESS_HOURS: 'mon-fri 07:00-19:00',
      },
    });
    manager = new KubernetesBrowserServiceManager(config, {
      kubeConfig: api.kubeConfig(),
      logger: testLogger,
      reconcileIntervalMs: 0,
      pollIntervalMs: 20,
      now: () => new Date(clock),
    });
    await manager.start();
  });

  afterEach(async () => {
    await manager.close();
    await queues.close();
    redis.disconnect();
    await api.close();
    await health.close();
  });

  it('counts waiting provider jobs and batch runs, and scales the pods with them', async () => {
    const jobs = queues.providerJobs('octotel');
    await jobs.addBulk(Array.from({ length: 25 }, (_, i) => ({ name: 'job', data: { i }, opts: { jobId: `j${i}` } })));
    await queues.batchRuns('evotel').add('run', { batch: 1 }, { jobId: 'b1' });
    expect(await queuedBrowserDemand(queues, 10)).to.equal(35);

    let failNext = true;
    const feeder = new BrowserCapacityFeeder({
      manager,
      measure: async () => {
        if (failNext) {
          failNext = false;
          throw new Error('Valkey hiccup');
        }
        return queuedBrowserDemand(queues, 10);
      },
      intervalMs: 60_000,
      logger: testLogger,
    });
    try {
      await feeder.tick(); // fails: logged, nothing created, no crash
      expect(api.requestsFor('POST')).to.have.length(0);
      await feeder.tick();
      expect(manager.endpoints()).to.have.length(2); // ceil(35 / 20)

      await jobs.addBulk(Array.from({ length: 100 }, (_, i) => ({ name: 'job', data: { i }, opts: { jobId: `k${i}` } })));
      await feeder.tick();
      expect(manager.endpoints()).to.have.length(3); // the maximum

      await jobs.obliterate({ force: true });
      await queues.batchRuns('evotel').obliterate({ force: true });
      expect(await queuedBrowserDemand(queues, 10)).to.equal(0);
      clock += 1000;
      await feeder.tick();
      expect(manager.endpoints()).to.deep.equal([]);
      expect(api.deleted).to.have.length(3);
    } finally {
      await feeder.close();
    }
  });
});
