import { existsSync, readFileSync } from 'node:fs';
import { ApiException, CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { Config } from '../config/config.js';
import { RpaError } from '../errors/failures.js';
import type { Logger } from '../logger.js';
import { capacityPolicy } from './browser-capacity.js';
import {
  PooledBrowserServiceManager,
  waitForPoolReady,
  type BrowserPoolEndpoint,
  type BrowserServiceBackend,
} from './browser-service-manager.js';

/** Labels on every browser pod this system creates; the NetworkPolicies and the Role's users select on them. */
export const BROWSER_POD_LABELS = {
  'app.kubernetes.io/name': 'rpa-orchestrator',
  'app.kubernetes.io/component': 'browser-pool',
  'app.kubernetes.io/managed-by': 'rpa-browser-service-manager',
} as const;
/** Label naming the manager pod that created a browser pod. */
export const MANAGER_LABEL = 'rpa.io/manager';
/** Annotation with that manager pod's uid (a pod of the same name may replace it). */
export const MANAGER_UID_ANNOTATION = 'rpa.io/manager-uid';
/** The Secret key that holds the pool's bearer token. */
export const TOKEN_SECRET_KEY = 'browser-pool-token';

const SA_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export interface KubernetesBackendOptions {
  core: CoreV1Api;
  namespace: string;
  image: string;
  poolPort: number;
  /** The pool's bearer token, as the manager knows it; the pod reads it from `tokenSecret`. */
  token: string;
  tokenSecret: string;
  resources: { cpuRequest: string; cpuLimit: string; memory: string };
  /** `app.kubernetes.io/instance` label value. */
  instance: string;
  /**
   * The manager's own pod. In the browser pods' namespace it owns them, so they go when it goes;
   * in another namespace (`namespace` is then only for browsers) Kubernetes allows no owner
   * reference across namespaces (the garbage collector would delete the pods at once), so the
   * manager deletes them itself, and a new manager deletes those whose manager pod is gone.
   */
  owner?: { name: string; uid: string; namespace?: string };
  readyTimeoutMs: number;
  logger: Logger;
  /** Bound on each API call; an API server slower than this counts as failing. */
  requestTimeoutMs?: number;
  pollIntervalMs?: number;
}

function apiError(what: string, err: unknown): RpaError {
  if (err instanceof RpaError) return err;
  if (err instanceof ApiException) {
    const body = typeof err.body === 'string' ? safeJson(err.body) : err.body;
    const reason = typeof body?.message === 'string' ? `: ${body.message.slice(0, 200)}` : '';
    // A conflict or a throttle passes; any other 4xx (RBAC, a bad spec) will answer the same again.
    const passing = err.code >= 500 || err.code === 429 || err.code === 409;
    return new RpaError(passing ? 'SERVICE_UNAVAILABLE' : 'KUBERNETES_API_REFUSED', `Kubernetes API ${what} failed with HTTP ${err.code}${reason}`, {
      details: { status: err.code },
    });
  }
  return new RpaError('SERVICE_UNAVAILABLE', `Kubernetes API ${what} failed: ${(err as Error)?.message ?? String(err)}`);
}

function safeJson(text: string): { message?: unknown } | undefined {
  try {
    return JSON.parse(text) as { message?: unknown };
  } catch {
    return undefined;
  }
}

function isNotFound(err: unknown): boolean {
  return err instanceof RpaError && err.details?.status === 404;
}

/** Starts, probes and deletes browser-pool pods through the Kubernetes API. */
export class KubernetesBrowserBackend implements BrowserServiceBackend {
  private readonly requestTimeoutMs: number;
  private readonly pollIntervalMs: number;

  constructor(private readonly o: KubernetesBackendOptions) {
    this.requestTimeoutMs = o.requestTimeoutMs ?? 10_000;
    this.pollIntervalMs = o.pollIntervalMs ?? 1000;
  }

  /** Labels a new pod gets. */
  labels(): Record<string, string> {
    return { ...BROWSER_POD_LABELS, 'app.kubernetes.io/instance': this.o.instance, [MANAGER_LABEL]: this.o.owner?.name ?? 'none' };
  }

  private selector(): string {
    return Object.entries({ ...BROWSER_POD_LABELS, 'app.kubernetes.io/instance': this.o.instance })
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
  }

  /** The pod a new browser service runs in: the Pod Security Standards' restricted profile, no API token. */
  podSpec(name: string): V1Pod {
    const o = this.o;
    const sameNamespace = (o.owner?.namespace ?? o.namespace) === o.namespace;
    const restricted = {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    };
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: o.namespace,
        labels: this.labels(),
        annotations: o.owner ? { [MANAGER_UID_ANNOTATION]: o.owner.uid } : undefined,
        ownerReferences:
          o.owner && sameNamespace
            ? // blockOwnerDeletion would need the finalizers permission on pods; the Role grants no more than it must.
              [{ apiVersion: 'v1', kind: 'Pod', name: o.owner.name, uid: o.owner.uid, controller: true, blockOwnerDeletion: false }]
            : undefined,
      },
      spec: {
        restartPolicy: 'Never',
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        terminationGracePeriodSeconds: 30,
        securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          {
            name: 'browser-pool',
            image: o.image,
            imagePullPolicy: 'IfNotPresent',
            ports: [{ name: 'pool', containerPort: o.poolPort, protocol: 'TCP' }],
            env: [
              { name: 'RPA_ROLES', value: 'browser' },
              { name: 'HOST', value: '0.0.0.0' },
              { name: 'BROWSER_POOL_PORT', value: String(o.poolPort) },
              { name: 'BROWSER_POOL_TOKEN', valueFrom: { secretKeyRef: { name: o.tokenSecret, key: TOKEN_SECRET_KEY } } },
              { name: 'HOME', value: '/tmp' },
            ],
            resources: {
              requests: { cpu: o.resources.cpuRequest, memory: o.resources.memory },
              limits: { cpu: o.resources.cpuLimit, memory: o.resources.memory },
            },
            readinessProbe: { httpGet: { path: '/health/ready', port: 'pool' }, periodSeconds: 5, failureThreshold: 3 },
            livenessProbe: { httpGet: { path: '/health/live', port: 'pool' }, periodSeconds: 10, failureThreshold: 3, initialDelaySeconds: 10 },
            securityContext: restricted,
            volumeMounts: [
              { name: 'tmp', mountPath: '/tmp' },
              { name: 'dshm', mountPath: '/dev/shm' },
            ],
          },
        ],
        volumes: [
          { name: 'tmp', emptyDir: { sizeLimit: '1Gi' } },
          { name: 'dshm', emptyDir: { medium: 'Memory', sizeLimit: '512Mi' } },
        ],
      },
    };
  }

  private call<T>(what: string, request: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new RpaError('SERVICE_UNAVAILABLE', `Kubernetes API ${what} timed out after ${this.requestTimeoutMs} ms`)),
        this.requestTimeoutMs,
      );
      timer.unref();
    });
    return Promise.race([request(), timeout])
      .catch((err: unknown) => {
        throw apiError(what, err);
      })
      .finally(() => clearTimeout(timer));
  }

  async provision(id: string, signal: AbortSignal): Promise<BrowserPoolEndpoint> {
    const { core, namespace } = this.o;
    const deadline = Date.now() + this.o.readyTimeoutMs;
    await this.call('create pod', () => core.createNamespacedPod({ namespace, body: this.podSpec(id) }));
    try {
      const pod = await this.waitPodReady(id, deadline, signal);
      const url = `http://${pod.status!.podIP}:${this.o.poolPort}`;
      await waitForPoolReady(url, this.o.token, deadline, signal, Math.min(this.pollIntervalMs, 250));
      return { id, url, token: this.o.token };
    } catch (err) {
      await this.terminate(id).catch((e: unknown) => this.o.logger.warn({ browser_service: id, err: (e as Error).message }, 'deleting a failed browser pod failed'));
      throw err;
    }
  }

  private async waitPodReady(name: string, deadline: number, signal: AbortSignal): Promise<V1Pod> {
    const { core, namespace } = this.o;
    for (;;) {
      if (signal.aborted) throw new RpaError('BROWSER_GONE', 'browser pod start was cancelled');
      let pod: V1Pod | undefined;
      try {
        pod = await this.call('read pod', () => core.readNamespacedPod({ name, namespace }));
      } catch (err) {
        // One slow or failed poll is not the end; the deadline is.
        if (!(err instanceof RpaError) || !err.retryable) throw err;
      }
      const phase = pod?.status?.phase;
      if (phase === 'Failed' || phase === 'Succeeded') {
        throw new RpaError('BROWSER_GONE', `browser pod ${name} ended (${phase}) before it was ready`);
      }
      const ready = pod?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      if (pod && ready && pod.status?.podIP) return pod;
      if (Date.now() + this.pollIntervalMs > deadline) {
        throw new RpaError('BROWSER_POOL_EXHAUSTED', `browser pod ${name} was not ready within ${this.o.readyTimeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, this.pollIntervalMs).unref());
    }
  }

  async isAlive(id: string): Promise<boolean> {
    const { core, namespace } = this.o;
    try {
      const pod = await this.call('read pod', () => core.readNamespacedPod({ name: id, namespace }));
      const phase = pod.status?.phase;
      return phase !== 'Failed' && phase !== 'Succeeded' && !pod.metadata?.deletionTimestamp;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async terminate(id: string): Promise<void> {
    const { core, namespace } = this.o;
    try {
      await this.call('delete pod', () => core.deleteNamespacedPod({ name: id, namespace, gracePeriodSeconds: 10 }));
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
  }

  /**
   * Deletes browser pods of this installation whose manager is this pod (a restarted container
   * forgot them) or a pod that no longer exists. Pods of other live managers are left alone.
   */
  async cleanupOrphans(): Promise<string[]> {
    const { core, namespace } = this.o;
    const managerNamespace = this.o.owner?.namespace ?? namespace;
    const list = await this.call('list pods', () => core.listNamespacedPod({ namespace, labelSelector: this.selector() }));
    const liveManagers = new Map<string, boolean>();
    const managerAlive = async (name: string, uid: string | undefined): Promise<boolean> => {
      if (name === 'none') return false;
      const key = `${name}/${uid ?? ''}`;
      if (!liveManagers.has(key)) {
        try {
          const manager = await this.call('read pod', () => core.readNamespacedPod({ name, namespace: managerNamespace }));
          liveManagers.set(key, uid === undefined || manager.metadata?.uid === uid);
        } catch (err) {
          if (isNotFound(err)) liveManagers.set(key, false);
          else throw err;
        }
      }
      return liveManagers.get(key)!;
    };
    const orphans: string[] = [];
    for (const pod of list.items) {
      const name = pod.metadata?.name;
      if (!name) continue;
      const manager = pod.metadata?.labels?.[MANAGER_LABEL] ?? 'none';
      const ownerUid = pod.metadata?.ownerReferences?.find((r) => r.kind === 'Pod' && r.name === manager)?.uid ?? pod.metadata?.annotations?.[MANAGER_UID_ANNOTATION];
      const mine = this.o.owner !== undefined && manager === this.o.owner.name;
      if (mine || !(await managerAlive(manager, ownerUid))) {
        await this.terminate(name);
        orphans.push(name);
      }
    }
    return orphans;
  }

  async close(): Promise<void> {}
}

export interface KubernetesManagerOptions {
  /** A KubeConfig built by the caller (tests: one pointing at a fake API server). Default: in-cluster. */
  kubeConfig?: KubeConfig;
  logger: Logger;
  reconcileIntervalMs?: number;
  requestTimeoutMs?: number;
  pollIntervalMs?: number;
  now?: () => Date;
}

/** Browser-pool pods on demand: created, probed, handed out and deleted by this process. */
export class KubernetesBrowserServiceManager extends PooledBrowserServiceManager {
  readonly backend: KubernetesBrowserBackend;

  constructor(config: Config, options: KubernetesManagerOptions) {
    const m = config.browserManager;
    const token = config.browserPool.token;
    if (!token) throw new RpaError('CONFIG_INVALID', 'BROWSER_POOL_TOKEN: required when BROWSER_MANAGER_MODE=kubernetes', { field: 'BROWSER_POOL_TOKEN' });
    let kubeConfig = options.kubeConfig;
    if (!kubeConfig) {
      kubeConfig = new KubeConfig();
      kubeConfig.loadFromCluster();
    }
    const namespace = m.k8s.namespace ?? (existsSync(SA_NAMESPACE_FILE) ? readFileSync(SA_NAMESPACE_FILE, 'utf8').trim() : undefined);
    if (!namespace) throw new RpaError('CONFIG_INVALID', 'BROWSER_K8S_NAMESPACE: required outside a cluster', { field: 'BROWSER_K8S_NAMESPACE' });
    const owner = m.k8s.ownerPodName && m.k8s.ownerPodUid ? { name: m.k8s.ownerPodName, uid: m.k8s.ownerPodUid, namespace: m.k8s.ownerPodNamespace } : undefined;
    const logger = options.logger.child({ component: 'browser-service-manager', mode: 'kubernetes' });
    const backend = new KubernetesBrowserBackend({
      core: kubeConfig.makeApiClient(CoreV1Api),
      namespace,
      image: m.k8s.image,
      poolPort: m.k8s.poolPort,
      token,
      tokenSecret: m.k8s.tokenSecret,
      resources: { cpuRequest: m.k8s.cpuRequest, cpuLimit: m.k8s.cpuLimit, memory: m.k8s.memory },
      instance: m.k8s.instance,
      owner,
      readyTimeoutMs: m.readyTimeoutMs,
      logger,
      requestTimeoutMs: options.requestTimeoutMs,
      pollIntervalMs: options.pollIntervalMs,
    });
    super({
      policy: capacityPolicy(config),
      backend,
      logger,
      readyTimeoutMs: m.readyTimeoutMs,
      reconcileIntervalMs: options.reconcileIntervalMs,
      idPrefix: `rpa-browser-${m.k8s.instance}`,
      now: options.now,
    });
    this.backend = backend;
  }
}
