import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'iovalkey';
import { createFleet } from '../../../src/browser/browser-options.js';
import { PoolDirectory } from '../../../src/browser/client/pool-directory.js';
import { PoolLeaseSource } from '../../../src/browser/client/pool-lease-source.js';
import { directoryPools } from '../../../src/browser/client/pool-list.js';
import { poolToken } from '../../../src/browser/client/pool-token.js';
import type { Fleet } from '../../../src/browser/fleet/fleet.js';
import { DEFAULT_MAIN_SCRIPT } from '../../../src/browser/fleet/local-backend.js';
import { loadConfig } from '../../../src/config/config.js';
import { freePort } from '../../../src/infra/free-port.js';
import { QueueRegistry } from '../../../src/queues/queue-registry.js';
import { createValkey } from '../../../src/queues/valkey.js';
import { sharedValkey, testLogger, uniquePrefix } from '../../support/shared-services.js';
import { FakeKubeApiServer } from '../fake-kube-api-server.js';

const NS = 'rpa-e2e';
const POOL_TOKEN = 'e2e-pool-token-0123456789abcdef';

/**
 * The pod spec the fleet sends, run for real: a fake "kubelet" starts the browser role with
 * exactly the environment the spec carries (the token resolved from the Secret it names), on
 * 127.0.0.1 instead of a pod network. A batch's source then finds the pod in the directory,
 * leases a context and drives Chromium in it, through the pod's one pool port.
 */
describe('Fleet on Kubernetes: the pod it asks for runs a working pool, reached on its pool port alone', function () {
  this.timeout(120_000);
  let api: FakeKubeApiServer;
  let fleet: Fleet | undefined;
  let redis: Redis;
  let dataDir: string;
  const pids: number[] = [];

  beforeEach(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'rpa-fake-kubelet-'));
    api = await new FakeKubeApiServer().start();
    api.secrets.set(`${NS}/fno-credentials`, { 'browser-pool-token': POOL_TOKEN });
    api.runPod = async (pod) => {
      const container = pod.spec.containers[0];
      const env = api.resolveEnv(NS, container);
      // The image's CMD: node dist/src/main.js, the role picked by RPA_ROLES from the spec.
      const child = spawn(process.execPath, [DEFAULT_MAIN_SCRIPT], {
        // Only what the spec gives, plus what the image provides (PATH, Chromium) and loopback for the pod network.
        env: { ...env, PATH: process.env.PATH, HOST: '127.0.0.1', BROWSER_POOL_SIZE: '1', LOG_LEVEL: 'warn', RPA_DATA_DIR: dataDir },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      pids.push(child.pid!);
      const probe = container.readinessProbe.httpGet;
      const port = container.ports.find((p: any) => p.name === probe.port).containerPort;
      const deadline = Date.now() + 60_000;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`container exited with ${child.exitCode}`);
        const ok = await fetch(`http://127.0.0.1:${port}${probe.path}`).then((r) => r.ok, () => false);
        if (ok) break;
        if (Date.now() > deadline) throw new Error('readiness probe never passed');
        await new Promise((r) => setTimeout(r, 200));
      }
      return async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      };
    };
  });

  afterEach(async () => {
    await fleet?.close();
    fleet = undefined;
    redis?.disconnect();
    await api.close();
    for (const pid of pids.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone, as it should be
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('creates the pod, waits for it, and a batch drives Chromium through it via the directory; close deletes it and the pool stops', async () => {
    const poolPort = await freePort();
    const prefix = uniquePrefix('pod-runs');
    const config = loadConfig({
      env: {
        QUEUE_PREFIX: prefix,
        BROWSER_MANAGER_MODE: 'kubernetes',
        BROWSER_POOL_TOKEN: POOL_TOKEN,
        BROWSER_K8S_NAMESPACE: NS,
        BROWSER_K8S_POOL_PORT: String(poolPort),
        BROWSER_K8S_OWNER_POD_NAME: 'rpa-worker-0',
        BROWSER_MAX_POOLS: '1',
        BROWSER_WARM_MIN: '1',
        BROWSER_BUSINESS_HOURS: 'mon-sun 00:00-24:00',
        BROWSER_READY_TIMEOUT_MS: '90000',
      },
    });
    redis = createValkey((await sharedValkey()).url, 'producer');
    const queues = new QueueRegistry(redis, prefix);
    const token = poolToken(POOL_TOKEN);
    fleet = createFleet(config, token, { redis, queues, logger: testLogger, kubeConfig: api.kubeConfig() });
    await fleet.start();
    expect(fleet.isLeader()).to.equal(true);

    const directory = new PoolDirectory({ redis, prefix });
    const source = new PoolLeaseSource({ pools: directoryPools(directory, { [token.id]: token.token }), leaseTimeoutMs: 90_000, logger: testLogger });
    try {
      const lease = await source.lease();
      try {
        const [pod] = api.requestsFor('POST', /\/pods$/).map((r) => r.body.metadata.name);
        expect(lease.browserId.startsWith(`${pod}/`), lease.browserId).to.equal(true);
        const [entry] = await directory.list();
        expect(entry!.url).to.equal(`http://127.0.0.1:${poolPort}`);
        const page = await lease.context.newPage();
        await page.setContent('<h1>leased from a browser pod</h1>');
        expect(await page.locator('h1').textContent()).to.equal('leased from a browser pod');
        // The connection runs to the pod's pool port: no other port of the pod is needed.
        const res = await fetch(`http://127.0.0.1:${poolPort}/browsers`, { headers: { authorization: `Bearer ${POOL_TOKEN}` } });
        expect(((await res.json()) as { browsers: { leases: number }[] }).browsers[0]!.leases).to.equal(1);
      } finally {
        await lease.release();
      }
    } finally {
      await source.close();
      await queues.close();
    }

    const created = api.requestsFor('POST', /\/pods$/).map((r) => r.body.metadata.name);
    await fleet.close();
    fleet = undefined;
    expect(api.deleted).to.deep.equal(created);
    expect(await directory.list()).to.deep.equal([]);
    const alive = pids.filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
    expect(alive, 'the pool process stopped when its pod was deleted').to.deep.equal([]);
  });
});
