import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { ROOT } from '../k8s/support/manifests.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { isRpaError } from '../../src/errors/failures.js';
import { KubernetesBrowserServiceManager, MANAGER_LABEL, MANAGER_UID_ANNOTATION } from '../../src/browser/kubernetes-browser-service-manager.js';
import { testLogger } from '../support/shared-services.js';
import { FakeKubeApiServer, FakePoolHealth } from './fake-kube-api-server.js';

const NS = 'rpa-test';
const POOL_TOKEN = 'pool-token-0123456789abcdef';
const MANAGER_POD = 'rpa-worker-7d9f-abcde';
const MANAGER_UID = '11111111-2222-3333-4444-555555555555';
// Monday 2026-11-23 10:00 UTC: inside "mon-fri 07:00-19:00"; Sunday 2026-11-22 10:00 UTC: outside.
const MONDAY_10 = Date.parse('2026-11-23T10:00:00Z');
const SUNDAY_10 = Date.parse('2026-11-22T10:00:00Z');

function config(poolPort: number, extra: Record<string, string> = {}): Config {
  return loadConfig({
    env: {
      BROWSER_MANAGER_MODE: 'kubernetes',
      BROWSER_POOL_TOKEN: POOL_TOKEN,
      BROWSER_K8S_NAMESPACE: NS,
      BROWSER_K8S_IMAGE: 'registry.example/rpa-orchestrator-browser:1.2.3',
      BROWSER_K8S_POOL_PORT: String(poolPort),
      BROWSER_K8S_OWNER_POD_NAME: MANAGER_POD,
      BROWSER_K8S_OWNER_POD_UID: MANAGER_UID,
      BROWSER_K8S_CPU_REQUEST: '250m',
      BROWSER_K8S_CPU_LIMIT: '1500m',
      BROWSER_K8S_MEMORY: '1536Mi',
      BROWSER_MAX_POOLS: '3',
      BROWSER_WARM_POOLS: '2',
      BROWSER_JOBS_PER_POOL: '20',
      BROWSER_IDLE_TIMEOUT_MS: '60000',
      BROWSER_READY_TIMEOUT_MS: '5000',
      BROWSER_BUSINESS_HOURS: 'mon-fri 07:00-19:00',
      BROWSER_TIME_ZONE: 'UTC',
      ...extra,
    },
  });
}

describe('KubernetesBrowserServiceManager against a fake API server', () => {
  let api: FakeKubeApiServer;
  let health: FakePoolHealth;
  let manager: KubernetesBrowserServiceManager | undefined;
  let clock: number;

  beforeEach(async () => {
    api = await new FakeKubeApiServer().start();
    health = await new FakePoolHealth(POOL_TOKEN).start();
    // The manager itself runs in a pod the API server knows.
    api.seedPod(NS, { metadata: { name: MANAGER_POD, uid: MANAGER_UID, labels: { app: 'worker' } }, status: { phase: 'Running' } });
    clock = MONDAY_10;
  });

  afterEach(async () => {
    await manager?.close();
    manager = undefined;
    await api.close();
    await health.close();
  });

  function create(extra: Record<string, string> = {}, options: { requestTimeoutMs?: number } = {}): KubernetesBrowserServiceManager {
    manager = new KubernetesBrowserServiceManager(config(health.port, extra), {
      kubeConfig: api.kubeConfig(),
      logger: testLogger,
      reconcileIntervalMs: 0,
      pollIntervalMs: 25,
      requestTimeoutMs: options.requestTimeoutMs ?? 2000,
      now: () => new Date(clock),
    });
    return manager;
  }

  const podCreates = () => api.requestsFor('POST', /\/pods$/);

  it('keeps a warm pool during business hours and sends pods that meet the restricted profile', async () => {
    const m = create();
    await m.start();

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
    for (const e of m.endpoints()) {
      expect(e.url).to.equal(`http://127.0.0.1:${health.port}`);
      expect(e.token).to.equal(POOL_TOKEN);
    }
    // Every API call carried the service account's token.
    expect(api.requests.every((r) => r.authorization === `Bearer ${api.token}`)).to.equal(true);
  });

  it('hands out a pod only when the pod is Ready and the pool answers /health/ready', async () => {
    const m = create({ BROWSER_WARM_POOLS: '0' });
    await m.start();
    expect(podCreates()).to.have.length(0);
    api.readyAfterMs = 200;
    health.ready = false;

    const scaling = m.ensureCapacity({ queuedJobs: 1 });
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
    expect(health.calls.every((c) => c.authorization === `Bearer ${POOL_TOKEN}`)).to.equal(true);
    expect(health.calls.length).to.be.greaterThan(1);
  });

  it('deletes a pod that does not become ready in time and reports the failure', async () => {
    const m = create({ BROWSER_WARM_POOLS: '0', BROWSER_READY_TIMEOUT_MS: '1000' });
    await m.start();
    api.readyAfterMs = undefined; // stays Pending
    const result = await m.ensureCapacity({ queuedJobs: 5 });

    expect(result.created).to.have.length(1);
    expect(result.failed).to.have.length(1);
    expect(result.failed[0]!.error.code).to.equal('BROWSER_POOL_EXHAUSTED');
    expect(result.failed[0]!.error.retryable).to.equal(true);
    expect(api.deleted).to.deep.equal(result.created);
    expect(m.endpoints()).to.deep.equal([]);
  });

  it('scales with the queue depth up to the maximum and not beyond', async () => {
    clock = SUNDAY_10;
    const m = create();
    await m.start();
    expect(podCreates(), 'no warm pool outside business hours').to.have.length(0);

    let result = await m.ensureCapacity({ queuedJobs: 30 });
    expect(result.desired).to.equal(2); // ceil(30 / 20)
    expect(podCreates()).to.have.length(2);

    result = await m.ensureCapacity({ queuedJobs: 500 });
    expect(result.desired).to.equal(3); // the maximum
    expect(result.created).to.have.length(1);
    expect(podCreates()).to.have.length(3);

    result = await m.ensureCapacity({ queuedJobs: 1000 });
    expect(result.created).to.deep.equal([]);
    expect(podCreates()).to.have.length(3);
    expect(m.endpoints()).to.have.length(3);
  });

  it('terminates idle pods after the idle timeout, but never one that is leased', async () => {
    clock = SUNDAY_10;
    const m = create();
    await m.start();
    await m.ensureCapacity({ queuedJobs: 60 });
    expect(m.endpoints()).to.have.length(3);
    const leased = await m.acquire();

    let result = await m.ensureCapacity({ queuedJobs: 0 });
    expect(result.removed, 'idle, but not for long enough yet').to.deep.equal([]);
    expect(api.deleted).to.deep.equal([]);

    clock += 60_000;
    result = await m.ensureCapacity({ queuedJobs: 0 });
    expect(result.desired).to.equal(1); // the leased one
    expect(result.removed).to.have.length(2);
    expect(result.removed).not.to.include(leased.id);
    expect(api.deleted.sort()).to.deep.equal([...result.removed].sort());
    expect(m.endpoints().map((e) => e.id)).to.deep.equal([leased.id]);

    await m.release(leased.id);
    clock += 59_000;
    expect((await m.ensureCapacity({ queuedJobs: 0 })).removed).to.deep.equal([]);
    clock += 1_000;
    expect((await m.ensureCapacity({ queuedJobs: 0 })).removed).to.deep.equal([leased.id]);
    expect(m.endpoints()).to.deep.equal([]);
  });

  it('deletes a pod at once when a worker retires it, and all its pods on close', async () => {
    const m = create();
    await m.start();
    const e = await m.acquire();
    await m.release(e.id, { retire: true });
    expect(api.deleted).to.deep.equal([e.id]);
    const deleteReq = api.requestsFor('DELETE')[0]!;
    expect(deleteReq.path).to.equal(`/api/v1/namespaces/${NS}/pods/${e.id}`);

    const remaining = m.endpoints().map((p) => p.id);
    await m.close();
    manager = undefined;
    expect(api.deleted.slice(1).sort()).to.deep.equal(remaining.sort());
    expect([...api.pods.keys()]).to.deep.equal([`${NS}/${MANAGER_POD}`]);
  });

  it('replaces a pod that died (Failed) on the next reconcile', async () => {
    const m = create({ BROWSER_WARM_POOLS: '1' });
    await m.start();
    const [first] = m.endpoints();
    api.setPhase(NS, first!.id, 'Failed');
    const result = await m.reconcile();
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

    const m = create({ BROWSER_WARM_POOLS: '0' });
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
    const m = create({ BROWSER_WARM_POOLS: '0' });
    await m.start();
    api.fault({ method: 'POST', path: /\/pods$/, status: 500, times: 1 });
    let result = await m.ensureCapacity({ queuedJobs: 1 });
    expect(result.failed).to.have.length(1);
    const error = result.failed[0]!.error;
    expect(error.code).to.equal('SERVICE_UNAVAILABLE');
    expect(error.retryable).to.equal(true);
    expect(error.message).to.contain('HTTP 500');
    expect(error.message).not.to.contain(POOL_TOKEN);
    expect(m.endpoints()).to.deep.equal([]);

    result = await m.ensureCapacity({ queuedJobs: 1 });
    expect(result.failed).to.deep.equal([]);
    expect(m.endpoints()).to.have.length(1);
  });

  it('gives up on an API server slower than the request timeout', async () => {
    api.fault({ method: 'GET', path: /\/pods$/, delayMs: 3000, times: 1 });
    const m = create({}, { requestTimeoutMs: 300 });
    const started = m.start().then(
      () => undefined,
      (err: unknown) => err,
    );
    const err = await started;
    expect(isRpaError(err, 'SERVICE_UNAVAILABLE'), String(err)).to.equal(true);
    expect((err as Error).message).to.match(/list pods timed out after 300 ms/);

    // A slow create: the pod is not handed out, and nothing waits forever.
    api.fault({ method: 'POST', path: /\/pods$/, delayMs: 3000, times: 1 });
    const result = await m.ensureCapacity({ queuedJobs: 1 });
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
    const e = await m.acquire();
    await m.release(e.id, { retire: true });
    await m.reconcile();
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

  it('acquire waits for a pod to start when none is ready', async () => {
    const m = create({ BROWSER_WARM_POOLS: '0' });
    await m.start();
    api.readyAfterMs = 150;
    const e = await m.acquire();
    expect(e.url).to.equal(`http://127.0.0.1:${health.port}`);
    expect(podCreates()).to.have.length(1);
    expect(podCreates()[0]!.body.metadata.name).to.equal(e.id);
  });

  it('runs browser pods in a namespace of their own: no owner reference across namespaces, managers looked up where they run', async () => {
    const BROWSERS = 'rpa-test-browsers';
    const labels = (manager: string) => ({
      'app.kubernetes.io/name': 'rpa-orchestrator',
      'app.kubernetes.io/component': 'browser-pool',
      'app.kubernetes.io/managed-by': 'rpa-browser-service-manager',
      'app.kubernetes.io/instance': 'rpa',
      [MANAGER_LABEL]: manager,
    });
    // A live manager in the orchestrator's namespace (the same name in the browser namespace would not do).
    const other = api.seedPod(NS, { metadata: { name: 'rpa-worker-other', labels: { app: 'worker' } }, status: { phase: 'Running' } });
    api.seedPod(BROWSERS, { metadata: { name: 'of-a-live-manager', labels: labels('rpa-worker-other'), annotations: { [MANAGER_UID_ANNOTATION]: other.metadata.uid } } });
    api.seedPod(BROWSERS, { metadata: { name: 'of-a-replaced-manager', labels: labels('rpa-worker-other'), annotations: { [MANAGER_UID_ANNOTATION]: 'an-older-uid' } } });
    api.seedPod(BROWSERS, { metadata: { name: 'of-a-gone-manager', labels: labels('rpa-worker-gone') } });

    const m = create({ BROWSER_K8S_NAMESPACE: BROWSERS, BROWSER_K8S_OWNER_POD_NAMESPACE: NS, BROWSER_WARM_POOLS: '1' });
    await m.start();
    expect(api.deleted.sort()).to.deep.equal(['of-a-gone-manager', 'of-a-replaced-manager']);
    expect(api.pods.has(`${BROWSERS}/of-a-live-manager`)).to.equal(true);

    const [createReq] = podCreates();
    expect(createReq!.path).to.equal(`/api/v1/namespaces/${BROWSERS}/pods`);
    const pod = createReq!.body;
    expect(pod.metadata.namespace).to.equal(BROWSERS);
    // The garbage collector would delete a pod whose owner is in another namespace at once.
    expect(pod.metadata.ownerReferences).to.equal(undefined);
    expect(pod.metadata.annotations).to.deep.equal({ [MANAGER_UID_ANNOTATION]: MANAGER_UID });
    expect(pod.metadata.labels[MANAGER_LABEL]).to.equal(MANAGER_POD);

    const e = await m.acquire();
    await m.release(e.id, { retire: true });
    await m.close();
    manager = undefined;
    // Pods are managed in the browser namespace; in its own namespace the manager only reads pods.
    const outside = api.requests.filter((r) => !r.path.startsWith(`/api/v1/namespaces/${BROWSERS}/pods`));
    expect(outside.length).to.be.greaterThan(0);
    expect(outside.every((r) => r.method === 'GET' && r.path.startsWith(`/api/v1/namespaces/${NS}/pods/`)), JSON.stringify(outside.map((r) => `${r.method} ${r.path}`))).to.equal(true);
    const docs = readFileSync(join(ROOT, 'k8s', 'base', 'rbac.yaml'), 'utf8').split(/^---$/m).map((d) => load(d) as any);
    const peers = docs.find((d) => d?.kind === 'Role');
    expect(peers.rules).to.deep.equal([{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }]);
  });
});
