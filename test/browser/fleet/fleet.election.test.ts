import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type { Redis } from 'iovalkey';
import { MANAGER_LABEL } from '../../../src/browser/fleet/pool-pod.js';
import { QueueRegistry } from '../../../src/queues/queue-registry.js';
import { createValkey } from '../../../src/queues/valkey.js';
import { sharedValkey, uniquePrefix } from '../../support/shared-services.js';
import { FakeKubeApiServer, FakePoolHealth } from '../fake-kube-api-server.js';
import { waitFor } from '../pool-fixture.js';
import { FLEET_NS, FLEET_TOKEN } from './fleet-fixture.js';

const MEMBER = fileURLToPath(new URL('./fleet-member.js', import.meta.url));

/**
 * Two workers' fleet members in two processes, one fake Kubernetes API server that records
 * every pod it is asked to create, the real Valkey with the real provider queues: only the
 * leader decides, so the pods match one decision, not two; when the leader dies the other takes
 * over, cleans up the dead leader's pods and starts its own.
 */
describe('fleet election: one worker decides how many pools run (two processes, fake API server)', function () {
  this.timeout(90_000);
  let api: FakeKubeApiServer;
  let health: FakePoolHealth;
  let redis: Redis;
  let queues: QueueRegistry;
  let prefix: string;
  const members = new Map<string, ChildProcess>();

  beforeEach(async () => {
    api = await new FakeKubeApiServer().start();
    health = await new FakePoolHealth(FLEET_TOKEN).start();
    redis = createValkey((await sharedValkey()).url, 'worker');
    prefix = uniquePrefix('election');
    queues = new QueueRegistry(redis, prefix);
  });

  afterEach(async () => {
    for (const child of members.values()) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }
    }
    members.clear();
    await queues.close();
    redis.disconnect();
    await api.close();
    await health.close();
  });

  async function startMember(name: string): Promise<ChildProcess> {
    api.seedPod(FLEET_NS, { metadata: { name, uid: `uid-${name}`, labels: { app: 'worker' } }, status: { phase: 'Running' } });
    const child = spawn(process.execPath, ['--enable-source-maps', MEMBER], {
      env: {
        PATH: process.env.PATH,
        FAKE_API_URL: `http://127.0.0.1:${api.port}`,
        FAKE_API_TOKEN: api.token,
        VALKEY_URL: (await sharedValkey()).url,
        QUEUE_PREFIX: prefix,
        POD_NAME: name,
        POD_UID: `uid-${name}`,
        POOL_PORT: String(health.port),
        TEST_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    members.set(name, child);
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await waitFor(`${name} to start`, () => out.includes('started') || child.exitCode !== null, 30_000);
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
    return child;
  }

  const poolPods = () => [...api.pods.values()].filter((p) => p.metadata.labels?.['app.kubernetes.io/component'] === 'browser-pool');
  const creates = () => api.requestsFor('POST', /\/pods$/);
  const leaderName = async () => (await redis.get(`{${prefix}-browser}:fleet:configured:leader`))?.split(' ')[0];

  it('the pods the API server is asked for match one decision; when the leader dies the other takes over', async () => {
    // 25 queued jobs, 10 per pool: one decision wants 3 pools (each member alone would make 3 too).
    await queues.providerJobs('openserve').addBulk(Array.from({ length: 25 }, (_, i) => ({ name: 'job', data: { i }, opts: { jobId: `j${i}` } })));
    let most = 0;
    const watch = setInterval(() => (most = Math.max(most, poolPods().length)), 20);
    try {
      await startMember('rpa-worker-a');
      await startMember('rpa-worker-b');
      await waitFor('three pool pods', () => poolPods().length === 3, 30_000);
      // Several rounds of both members later: still one decision's worth.
      await new Promise((r) => setTimeout(r, 2_000));
      const first = await leaderName();
      expect(first).to.be.oneOf(['rpa-worker-a', 'rpa-worker-b']);
      expect(creates(), 'pods asked for').to.have.length(3);
      expect(new Set(poolPods().map((p) => p.metadata.labels[MANAGER_LABEL]))).to.deep.equal(new Set([first]));
      expect(most, 'never more pods than one decision').to.equal(3);

      // The leader dies (SIGKILL: no clean-up, its lock runs out); Kubernetes removes its pod.
      const dead = members.get(first!)!;
      const exited = once(dead, 'exit');
      dead.kill('SIGKILL');
      await exited;
      api.pods.delete(`${FLEET_NS}/${first}`);
      const second = first === 'rpa-worker-a' ? 'rpa-worker-b' : 'rpa-worker-a';

      await waitFor('the other member to lead', async () => (await leaderName()) === second, 15_000);
      await waitFor('three pods of the new leader', () => poolPods().length === 3 && poolPods().every((p) => p.metadata.labels[MANAGER_LABEL] === second), 30_000);
      // The dead leader's pods were deleted by the new leader (their manager is gone), then it made its own.
      expect(api.deleted.length).to.equal(3);
      expect(creates()).to.have.length(6);
      expect(creates().slice(3).every((r) => r.body.metadata.labels[MANAGER_LABEL] === second)).to.equal(true);
      expect(most, 'never more pods than one decision').to.equal(3);

      // A clean stop: the leader deletes its pods and gives the lock up.
      const last = members.get(second)!;
      const stopped = once(last, 'exit');
      last.kill('SIGTERM');
      expect((await stopped)[0]).to.equal(0);
      expect(poolPods()).to.deep.equal([]);
      expect(await leaderName()).to.equal(undefined);
    } finally {
      clearInterval(watch);
    }
  });
});
