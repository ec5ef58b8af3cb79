import { expect } from 'chai';
import { CoreV1Api } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { ROOT } from '../../k8s/support/manifests.js';
import type { Redis } from 'iovalkey';
import { PoolDirectory } from '../../../src/browser/client/pool-directory.js';
import { poolToken } from '../../../src/browser/client/pool-token.js';
import { FleetManager } from '../../../src/browser/fleet/fleet-manager.js';
import { KubernetesPoolBackend, MANAGER_LABEL, MANAGER_UID_ANNOTATION } from '../../../src/browser/fleet/kubernetes-backend.js';
import { isRpaError } from '../../../src/errors/failures.js';
import { createValkey } from '../../../src/queues/valkey.js';
import { sharedValkey, testLogger, uniquePrefix } from '../../support/shared-services.js';
import { FakeKubeApiServer, FakePoolHealth } from '../fake-kube-api-server.js';

const NS = 'rpa-test';
const POOL_TOKEN = 'pool-token-0123456789abcdef';
const MANAGER_POD = 'rpa-worker-7d9f-abcde';
const MANAGER_UID = '11111111-2222-3333-4444-555555555555';
const T0 = Date.parse('2026-11-22T10:00:00Z');

interface Options {
  poolPort: number;
  maxPools?: number;
  readyTimeoutMs?: number;
  requestTimeoutMs?: number;
  directory?: PoolDirectory;
  /** Pool pods' namespace (default NS) and the worker's own, when they differ. */
  namespace?: string;
  ownerNamespace?: string;
}

/** The fleet leader's manager on the Kubernetes backend: pool pods through a fake API server that checks what it is sent. */
describe('FleetManager on the Kubernetes backend, against a fake API server', () => {
  let api: FakeKubeApiServer;
  let health: FakePoolHealth;
  let manager: FleetManager | undefined;
  let clock: number;

  beforeEach(async () => {
    api = await new FakeKubeApiServer().start();
    health = await new FakePoolHealth(POOL_TOKEN).start();
    // The worker itself runs in a pod the API server knows.
    api.seedPod(NS, { metadata: { name: MANAGER_POD, uid: MANAGER_UID, labels: { app: 'worker' } }, status: { phase: 'Running' } });
    clock = T0;
  });

  afterEach(async () => {
    await manager?.close();
    manager = undefined;
    await api.close();
    await health.close();
  });

  function backend(o: Options): KubernetesPoolBackend {
    return new KubernetesPoolBackend({
      core: api.kubeConfig().makeApiClient(CoreV1Api),
      namespace: o.namespace ?? NS,
      image: 'registry.example/rpa-orchestrator-browser:1.2.3',
      poolPort: o.poolPort,
      token: POOL_TOKEN,
      tokenSecret: 'fno-credentials',
      resources: { cpuRequest: '250m', cpuLimit: '1500m', memory: '1536Mi' },
      instance: 'rpa',
      owner: { name: MANAGER_POD, uid: MANAGER_UID, namespace: o.ownerNamespace },
      readyTimeoutMs: o.readyTimeoutMs ?? 5000,
      logger: testLogger,
      requestTimeoutMs: o.requestTimeoutMs ?? 2000,
      pollIntervalMs: 25,
    });
  }

  function create(o: Partial<Options> = {}): FleetManager {
    const options = { poolPort: health.port, ...o };
    manager = new FleetManager({
      policy: { maxPools: options.maxPools ?? 3, jobsPerPool: 20, idleTimeoutMs: 60_000 },
      backend: backend(options),
      token: poolToken(POOL_TOKEN),
      logger: testLogger,
      readyTimeoutMs: options.readyTimeoutMs ?? 5000,
      directory: options.directory,
      registeredBy: MANAGER_POD,
      idPrefix: 'rpa-browser-rpa',
      now: () => new Date(clock),
    });
    return manager;
  }

  const demand = (queuedJobs: number, warmMinimum = 0) => ({ queuedJobs, warmMinimum });

  const podCreates = () => api.requestsFor('POST', /\/pods$/);

  it('starts the pods it is asked for, each meeting the restricted profile and declaring its one pool port', async () => {
    const m = create();
    await m.start();
    const result = await m.reconcile(demand(0, 2));
    expect(result).to.include({ desired: 2 });
    expect(result.failed).to.deep.equal([]);

    const creates = podCreates();
    expect(creates).to.have.length(2);
    expect(m.endpoints()).to.have.length(2);
    for (const req of creates) {
      expect(req.path).to.equal(`/api/v1/namespaces/${NS}/pods`);
      expect(req.authorization).to.equal(`Bearer ${api.token}`);
      const pod = req.body;
      expect(pod.metadata.name).to.match(/^rpa-browser-rpa-[0-9a-f]{8}$/);
      expect(pod.metadata.labels).to.deep.equal({
        'app.kubernetes.io/name': 'rpa-orchestrator',
        'app.kubernetes.io/component': 'browser-pool',
        'app.kubernetes.io/managed-by': 'rpa-browser-service-manager',
        'app.kubernetes.io/instance': 'rpa',
        [MANAGER_LABEL]: MANAGER_POD,
      });
      expect(pod.metadata.ownerReferences).to.deep.equal([
        { apiVersion: 'v1', kind: 'Pod', name: MANAGER_POD, uid: MANAGER_UID, controller: true, blockOwnerDeletion: false },
      ]);
      const spec = pod.spec;
      expect(spec.automountServiceAccountToken).to.equal(false);
      expect(spec.restartPolicy).to.equal('Never');
      expect(spec.securityContext).to.deep.equal({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      const [c] = spec.containers;
      expect(spec.containers).to.have.length(1);
      expect(c.image).to.equal('registry.example/rpa-orchestrator-browser:1.2.3');
      expect(c.securityContext).to.deep.equal({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(c.resources).to.deep.equal({ requests: { cpu: '250m', memory: '1536Mi' }, limits: { cpu: '1500m', memory: '1536Mi' } });
      // One port: the pool's API and its browsers' WebSockets.
      expect(c.ports).to.deep.equal([{ name: 'pool', containerPort: health.port, protocol: 'TCP' }]);
      expect(c.readinessProbe.httpGet).to.deep.equal({ path: '/health/ready', port: 'pool' });
      expect(c.livenessProbe.httpGet).to.deep.equal({ path: '/health/live', port: 'pool' });
      const env = Object.fromEntries(c.env.map((e: any) => [e.name, e]));
      expect(env.RPA_ROLES.value).to.equal('browser');
      expect(env.BROWSER_POOL_PORT.value).to.equal(String(health.port));
      expect(env.BROWSER_POOL_TOKEN).to.deep.equal({ name: 'BROWSER_POOL_TOKEN', valueFrom: { secretKeyRef: { name: 'fno-credentials', key: 'browser-pool-token' } } });
      // The token goes by reference to the Secret, never in the pod spec itself.
      expect(JSON.stringify(pod)).not.to.contain(POOL_TOKEN);
      expect(c.volumeMounts.map((v: any) => v.mountPath).sort()).to.deep.equal(['/dev/shm', '/tmp']);
    }
    for (const e of m.endpoints()) expect(e.url).to.equal(`http://127.0.0.1:${health.port}`);
    // Every API call carried the service account's token; every call to a pool, the pool token.
    expect(api.requests.every((r) => r.authorization === `Bearer ${api.token}`)).to.equal(true);
    expect(health.calls.every((c) => c.authorization === `Bearer ${POOL_TOKEN}`)).to.equal(true);
  });

  it('counts a pod ready only when the pod is Ready and the pool answers /health/ready', async () => {
    const m = create();
    await m.start();
    api.readyAfterMs = 200;
    health.ready = false;

    const scaling = m.reconcile(demand(1));
    // Pod becomes Ready in the fake cluster, but the pool itself still says 503.
    while (!health.calls.length) await new Promise((r) => setTimeout(r, 20));
    const reads = api.requestsFor('GET', /\/pods\/rpa-browser-/);
    expect(reads.length).to.be.greaterThan(1, 'the manager polled the pod until Ready');
    expect(m.endpoints()).to.deep.equal([]);
    health.ready = true;
    const result = await scaling;

    expect(result.created).to.have.length(1);
    expect(result.failed).to.deep.equal([]);
    expect(m.endpoints()).to.have.length(1);
    expect(health.calls.filter((c) => c.path === '/health/ready').length).to.be.greaterThan(1);
  });

  it('registers a ready pod in the directory at once, with its URL and the id of its token, never the token', async () => {
    const redis: Redis = createValkey((await sharedValkey()).url, 'worker');
    const directory = new PoolDirectory({ redis, prefix: uniquePrefix('k8s-directory') });
    try {
      const m = create({ directory });
      await m.start();
      health.freeSlots = 3;
      const result = await m.reconcile(demand(1));
      const listed = await directory.list();
      expect(listed.map((e) => e.id)).to.deep.equal(result.created);
      expect(listed[0]).to.include({ url: `http://127.0.0.1:${health.port}`, tokenId: 'configured', freeSlots: 3, busyContexts: 0, registeredBy: MANAGER_POD });
      expect(JSON.stringify(await redis.hgetall(directory.key))).not.to.contain(POOL_TOKEN);
      await m.close();
      manager = undefined;
      expect(await directory.list(), 'a stopped pod leaves the directory').to.deep.equal([]);
    } finally {
      await redis.del(directory.key);
      redis.disconnect();
    }
  });

  it('deletes a pod that does not become ready in time and reports the failure', async () => {
    const m = create({ readyTimeoutMs: 1000 });
    await m.start();
    api.readyAfterMs = undefined; // stays Pending
    const result = await m.reconcile(demand(5));

    expect(result.created).to.have.length(1);
    expect(result.failed).to.have.length(1);
    expect(result.failed[0]!.error.code).to.equal('BROWSER_POOL_EXHAUSTED');
    expect(result.failed[0]!.error.retryable).to.equal(true);
    expect(api.deleted).to.deep.equal(result.created);
    expect(m.endpoints()).to.deep.equal([]);
  });

  it('scales with the queue depth up to the maximum and not beyond', async () => {
    const m = create();
    await m.start();
    expect((await m.reconcile(demand(0))).created, 'nothing wanted, nothing started').to.deep.equal([]);

    let result = await m.reconcile(demand(30));
    expect(result.desired).to.equal(2); // ceil(30 / 20)
    expect(podCreates()).to.have.length(2);

    result = await m.reconcile(demand(500));
    expect(result.desired).to.equal(3); // the maximum
    expect(result.created).to.have.length(1);
    expect(podCreates()).to.have.length(3);

    result = await m.reconcile(demand(1000));
    expect(result.created).to.deep.equal([]);
    expect(podCreates()).to.have.length(3);
    expect(m.endpoints()).to.have.length(3);
  });

  it('deletes idle pods after the idle timeout, not before, and every pod on close', async () => {
    const m = create();
    await m.start();
    await m.reconcile(demand(60));
    expect(m.endpoints()).to.have.length(3);

    let result = await m.reconcile(demand(0));
    expect(result.removed, 'idle, but not for long enough yet').to.deep.equal([]);
    clock += 59_000;
    expect((await m.reconcile(demand(0))).removed).to.deep.equal([]);
    clock += 1_000;
    result = await m.reconcile(demand(0, 1));
    expect(result.desired).to.equal(1); // the warm minimum
    expect(result.removed).to.have.length(2);
    expect(api.deleted.sort()).to.deep.equal([...result.removed].sort());
    const deleteReq = api.requestsFor('DELETE')[0]!;
    expect(deleteReq.path).to.match(new RegExp(`^/api/v1/namespaces/${NS}/pods/rpa-browser-rpa-`));

    const remaining = m.endpoints().map((p) => p.id);
    await m.close();
    manager = undefined;
    expect(api.deleted.slice(2).sort()).to.deep.equal(remaining.sort());
    expect([...api.pods.keys()]).to.deep.equal([`${NS}/${MANAGER_POD}`]);
  });

  it('keeps a pod whose pool reports leases, however long ago the queue emptied', async () => {
    const m = create({ maxPools: 1 });
    await m.start();
    await m.reconcile(demand(1));
    health.busy = 1;
    clock += 3_600_000;
    const result = await m.reconcile(demand(0));
    expect(result).to.include({ desired: 1 });
    expect(result.removed).to.deep.equal([]);
    health.busy = 0;
    await m.reconcile(demand(0)); // seen idle now
    clock += 60_000;
    expect((await m.reconcile(demand(0))).removed).to.have.length(1);
  });

  it('replaces a pod that died (Failed) on the next reconcile', async () => {
    const m = create();
    await m.start();
    await m.reconcile(demand(0, 1));
    const [first] = m.endpoints();
    api.setPhase(NS, first!.id, 'Failed');
    const result = await m.reconcile(demand(0, 1));
    expect(api.deleted).to.include(first!.id);
    expect(result.created).to.have.length(1);
    expect(m.endpoints().map((e) => e.id)).to.deep.equal(result.created);
  });

  it('cleans up orphaned pods after a restart: its own and those of managers that are gone', async () => {
    const labels = (manager: string, instance = 'rpa') => ({
      'app.kubernetes.io/name': 'rpa-orchestrator',
      'app.kubernetes.io/component': 'browser-pool',
      'app.kubernetes.io/managed-by': 'rpa-browser-service-manager',
      'app.kubernetes.io/instance': instance,
      [MANAGER_LABEL]: manager,
    });
    const other = api.seedPod(NS, { metadata: { name: 'rpa-worker-other', labels: { app: 'worker' } }, status: { phase: 'Running' } });
    api.seedPod(NS, { metadata: { name: 'mine-before-restart', labels: labels(MANAGER_POD) } });
    api.seedPod(NS, { metadata: { name: 'of-a-gone-manager', labels: labels('rpa-worker-gone') } });
    api.seedPod(NS, {
      metadata: {
        name: 'of-a-replaced-manager',
        labels: labels('rpa-worker-other'),
        ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'rpa-worker-other', uid: 'an-older-uid' }],
      },
    });
    api.seedPod(NS, {
      metadata: {
        name: 'of-a-live-manager',
        labels: labels('rpa-worker-other'),
        ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'rpa-worker-other', uid: other.metadata.uid }],
      },
    });
    api.seedPod(NS, { metadata: { name: 'another-installation', labels: labels('rpa-worker-gone', 'staging') } });

    const m = create();
    await m.start();

    expect(api.deleted.sort()).to.deep.equal(['mine-before-restart', 'of-a-gone-manager', 'of-a-replaced-manager']);
    const list = api.requestsFor('GET', /\/pods$/)[0]!;
    expect(list.query.labelSelector).to.equal(
      'app.kubernetes.io/name=rpa-orchestrator,app.kubernetes.io/component=browser-pool,app.kubernetes.io/managed-by=rpa-browser-service-manager,app.kubernetes.io/instance=rpa',
    );
    expect(api.pods.has(`${NS}/of-a-live-manager`)).to.equal(true);
    expect(api.pods.has(`${NS}/another-installation`)).to.equal(true);
  });

  it('reports an API server that answers 500 as a retryable failure, and recovers', async () => {
    const m = create();
    await m.start();
    api.fault({ method: 'POST', path: /\/pods$/, status: 500, times: 1 });
    let result = await m.reconcile(demand(1));
    expect(result.failed).to.have.length(1);
    const error = result.failed[0]!.error;
    expect(error.code).to.equal('SERVICE_UNAVAILABLE');
    expect(error.retryable).to.equal(true);
    expect(error.message).to.contain('HTTP 500');
    expect(error.message).not.to.contain(POOL_TOKEN);
    expect(m.endpoints()).to.deep.equal([]);

    result = await m.reconcile(demand(1));
    expect(result.failed).to.deep.equal([]);
    expect(m.endpoints()).to.have.length(1);
  });

  it('gives up on an API server slower than the request timeout', async () => {
    api.fault({ method: 'GET', path: /\/pods$/, delayMs: 3000, times: 1 });
    const m = create({ requestTimeoutMs: 300 });
    const started = m.start().then(
      () => undefined,
      (err: unknown) => err,
    );
    const err = await started;
    expect(isRpaError(err, 'SERVICE_UNAVAILABLE'), String(err)).to.equal(true);
    expect((err as Error).message).to.match(/list pods timed out after 300 ms/);

    // A slow create: the pod is not handed out, and nothing waits forever.
    api.fault({ method: 'POST', path: /\/pods$/, delayMs: 3000, times: 1 });
    const result = await m.reconcile(demand(1));
    expect(result.failed[0]?.error.message).to.match(/create pod timed out/);
  });

  it('makes only the calls the Role in k8s/browsers/rbac.yaml allows, and uses all of them', async () => {
    api.seedPod(NS, {
      metadata: {
        name: 'left-over',
        labels: {
          'app.kubernetes.io/name': 'rpa-orchestrator',
          'app.kubernetes.io/component': 'browser-pool',
          'app.kubernetes.io/managed-by': 'rpa-browser-service-manager',
          'app.kubernetes.io/instance': 'rpa',
          [MANAGER_LABEL]: 'rpa-worker-gone',
        },
      },
    });
    const m = create();
    await m.start();
    await m.reconcile(demand(0, 2));
    const [first] = m.endpoints();
    api.setPhase(NS, first!.id, 'Failed');
    await m.reconcile(demand(0, 1));
    await m.close();
    manager = undefined;

    const verb = (r: { method: string; path: string }) =>
      r.method === 'POST' ? 'create' : r.method === 'DELETE' ? 'delete' : /\/pods$/.test(r.path) ? 'list' : 'get';
    const used = new Set(api.requests.map(verb));
    expect(api.requests.every((r) => r.path.startsWith(`/api/v1/namespaces/${NS}/pods`)), 'pods in its own namespace only').to.equal(true);
    const docs = readFileSync(join(ROOT, 'k8s', 'browsers', 'rbac.yaml'), 'utf8').split(/^---$/m).map((d) => load(d) as any);
    const role = docs.find((d) => d.kind === 'Role');
    expect(role.rules).to.have.length(1);
    expect(role.rules[0].resources).to.deep.equal(['pods']);
    expect([...used].sort()).to.deep.equal([...role.rules[0].verbs].sort());
  });

  it('runs pool pods in a namespace of their own: no owner reference across namespaces, workers looked up where they run', async () => {
    const BROWSERS = 'rpa-test-browsers';
    const labels = (manager: string) => ({
      'app.kubernetes.io/name': 'rpa-orchestrator',
      'app.kubernetes.io/component': 'browser-pool',
      'app.kubernetes.io/managed-by': 'rpa-browser-service-manager',
      'app.kubernetes.io/instance': 'rpa',
      [MANAGER_LABEL]: manager,
    });
    // A live worker in the orchestrator's namespace (the same name in the browser namespace would not do).
    const other = api.seedPod(NS, { metadata: { name: 'rpa-worker-other', labels: { app: 'worker' } }, status: { phase: 'Running' } });
    api.seedPod(BROWSERS, { metadata: { name: 'of-a-live-manager', labels: labels('rpa-worker-other'), annotations: { [MANAGER_UID_ANNOTATION]: other.metadata.uid } } });
    api.seedPod(BROWSERS, { metadata: { name: 'of-a-replaced-manager', labels: labels('rpa-worker-other'), annotations: { [MANAGER_UID_ANNOTATION]: 'an-older-uid' } } });
    api.seedPod(BROWSERS, { metadata: { name: 'of-a-gone-manager', labels: labels('rpa-worker-gone') } });

    const m = create({ namespace: BROWSERS, ownerNamespace: NS });
    await m.start();
    expect(api.deleted.sort()).to.deep.equal(['of-a-gone-manager', 'of-a-replaced-manager']);
    expect(api.pods.has(`${BROWSERS}/of-a-live-manager`)).to.equal(true);
    await m.reconcile(demand(0, 1));

    const [createReq] = podCreates();
    expect(createReq!.path).to.equal(`/api/v1/namespaces/${BROWSERS}/pods`);
    const pod = createReq!.body;
    expect(pod.metadata.namespace).to.equal(BROWSERS);
    // The garbage collector would delete a pod whose owner is in another namespace at once.
    expect(pod.metadata.ownerReferences).to.equal(undefined);
    expect(pod.metadata.annotations).to.deep.equal({ [MANAGER_UID_ANNOTATION]: MANAGER_UID });
    expect(pod.metadata.labels[MANAGER_LABEL]).to.equal(MANAGER_POD);

    await m.close();
    manager = undefined;
    // Pods are managed in the browser namespace; in its own namespace the worker only reads pods.
    const outside = api.requests.filter((r) => !r.path.startsWith(`/api/v1/namespaces/${BROWSERS}/pods`));
    expect(outside.length).to.be.greaterThan(0);
    expect(outside.every((r) => r.method === 'GET' && r.path.startsWith(`/api/v1/namespaces/${NS}/pods/`)), JSON.stringify(outside.map((r) => `${r.method} ${r.path}`))).to.equal(true);
    const docs = readFileSync(join(ROOT, 'k8s', 'base', 'rbac.yaml'), 'utf8').split(/^---$/m).map((d) => load(d) as any);
    const peers = docs.find((d) => d?.kind === 'Role');
    expect(peers.rules).to.deep.equal([{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }]);
  });
});
