import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/config.js';
import { freePort } from '../../src/infra/free-port.js';
import { BrowserPoolClient } from '../../src/browser/browser-pool-client.js';
import { KubernetesBrowserServiceManager } from '../../src/browser/kubernetes-browser-service-manager.js';
import { DEFAULT_MAIN_SCRIPT } from '../../src/browser/local-browser-service-manager.js';
import { testLogger } from '../support/shared-services.js';
import { FakeKubeApiServer } from './fake-kube-api-server.js';

const NS = 'rpa-e2e';
const POOL_TOKEN = 'e2e-pool-token-0123456789abcdef';

/**
 * The pod spec the manager sends, run for real: a fake "kubelet" starts the browser role with
 * exactly the environment the spec carries (the token resolved from the Secret it names), on
 * 127.0.0.1 instead of a pod network. A worker then leases a context and drives Chromium in it.
 */
describe('KubernetesBrowserServiceManager: the pod it asks for runs a working browser pool', function () {
  this.timeout(120_000);
  let api: FakeKubeApiServer;
  let manager: KubernetesBrowserServiceManager | undefined;
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
    await manager?.close();
    manager = undefined;
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

  it('creates the pod, waits for it, and a worker drives Chromium through it; close deletes it and the pool stops', async () => {
    const poolPort = await freePort();
    const config = loadConfig({
      env: {
        BROWSER_MANAGER_MODE: 'kubernetes',
        BROWSER_POOL_TOKEN: POOL_TOKEN,
        BROWSER_K8S_NAMESPACE: NS,
        BROWSER_K8S_POOL_PORT: String(poolPort),
        BROWSER_MAX_POOLS: '1',
        BROWSER_WARM_POOLS: '0',
        BROWSER_READY_TIMEOUT_MS: '90000',
      },
    });
    manager = new KubernetesBrowserServiceManager(config, { kubeConfig: api.kubeConfig(), logger: testLogger, reconcileIntervalMs: 0, pollIntervalMs: 100 });
    await manager.start();

    const endpoint = await manager.acquire();
    expect(endpoint.url).to.equal(`http://127.0.0.1:${poolPort}`);
    const client = new BrowserPoolClient({ url: endpoint.url, token: endpoint.token!, logger: testLogger });
    try {
      const heading = await client.withLease(async (lease) => {
        const page = await lease.context.newPage();
        await page.setContent('<h1>leased from a browser pod</h1>');
        return page.locator('h1').textContent();
      });
      expect(heading).to.equal('leased from a browser pod');
    } finally {
      await client.close();
    }
    await manager.release(endpoint.id);

    await manager.close();
    manager = undefined;
    expect(api.deleted).to.deep.equal([endpoint.id]);
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
