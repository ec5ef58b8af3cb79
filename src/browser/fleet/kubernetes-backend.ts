import { existsSync, readFileSync } from 'node:fs';
import { ApiException, CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { RpaError } from '../../errors/failures.js';
import type { Logger } from '../../logger.js';
import { waitForPoolReady, type PoolBackend, type StartedPool } from './pool-backend.js';
import { MANAGER_LABEL, MANAGER_UID_ANNOTATION, POOL_POD_LABELS, poolPodLabels, poolPodSpec } from './pool-pod.js';

export { MANAGER_LABEL, MANAGER_UID_ANNOTATION, POOL_POD_LABELS } from './pool-pod.js';

const SA_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** The Kubernetes API client of this pod (its service account), or of `kubeConfig` (tests: a fake API server). */
export function coreApi(kubeConfig?: KubeConfig): CoreV1Api {
  let kc = kubeConfig;
  if (!kc) {
    kc = new KubeConfig();
    kc.loadFromCluster();
  }
  return kc.makeApiClient(CoreV1Api);
}

/** The namespace of this pod's service account, when it runs in a cluster. */
export function serviceAccountNamespace(): string | undefined {
  return existsSync(SA_NAMESPACE_FILE) ? readFileSync(SA_NAMESPACE_FILE, 'utf8').trim() : undefined;
}

export interface KubernetesBackendOptions {
  core: CoreV1Api;
  namespace: string;
  image: string;
  /** The pool's one port (API and browsers): in the pod spec, the probes and the pool's URL. */
  poolPort: number;
  /** The pool's bearer token, as the fleet knows it; the pod reads it from `tokenSecret`. */
  token: string;
  tokenSecret: string;
  resources: { cpuRequest: string; cpuLimit: string; memory: string };
  /** `app.kubernetes.io/instance` label value. */
  instance: string;
  /** The worker's own pod (see PoolPodOptions.owner: same namespace → owner; else an annotation). */
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

/** Starts, probes and deletes pool pods through the Kubernetes API (the Role allows pods: create, get, list, delete). */
export class KubernetesPoolBackend implements PoolBackend {
  private readonly requestTimeoutMs: number;
  private readonly pollIntervalMs: number;

  constructor(private readonly o: KubernetesBackendOptions) {
    this.requestTimeoutMs = o.requestTimeoutMs ?? 10_000;
    this.pollIntervalMs = o.pollIntervalMs ?? 1000;
  }

  /** Labels a new pod gets. */
  labels(): Record<string, string> {
    return poolPodLabels(this.o.instance, this.o.owner?.name);
  }

  private selector(): string {
    return Object.entries({ ...POOL_POD_LABELS, 'app.kubernetes.io/instance': this.o.instance })
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
  }

  /** Where the fleet and the batches reach a pool pod: its IP and the pool port (API and browsers). */
  poolUrl(podIp: string): string {
    return `http://${podIp.includes(':') ? `[${podIp}]` : podIp}:${this.o.poolPort}`;
  }

  /** The pod a new pool runs in (pool-pod.ts). */
  podSpec(name: string): V1Pod {
    const o = this.o;
    return poolPodSpec({ name, namespace: o.namespace, image: o.image, poolPort: o.poolPort, tokenSecret: o.tokenSecret, resources: o.resources, instance: o.instance, owner: o.owner });
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

  async provision(id: string, signal: AbortSignal): Promise<StartedPool> {
    const { core, namespace } = this.o;
    const deadline = Date.now() + this.o.readyTimeoutMs;
    await this.call('create pod', () => core.createNamespacedPod({ namespace, body: this.podSpec(id) }));
    try {
      const pod = await this.waitPodReady(id, deadline, signal);
      const url = this.poolUrl(pod.status!.podIP!);
      await waitForPoolReady(url, this.o.token, deadline, signal, Math.min(this.pollIntervalMs, 250));
      return { id, url };
    } catch (err) {
      await this.terminate(id).catch((e: unknown) => this.o.logger.warn({ pool_id: id, err: (e as Error).message }, 'deleting a failed pool pod failed'));
      throw err;
    }
  }

  private async waitPodReady(name: string, deadline: number, signal: AbortSignal): Promise<V1Pod> {
    const { core, namespace } = this.o;
    for (;;) {
      if (signal.aborted) throw new RpaError('BROWSER_GONE', 'pool pod start was cancelled');
      let pod: V1Pod | undefined;
      try {
        pod = await this.call('read pod', () => core.readNamespacedPod({ name, namespace }));
      } catch (err) {
        // One slow or failed poll is not the end; the deadline is.
        if (!(err instanceof RpaError) || !err.retryable) throw err;
      }
      const phase = pod?.status?.phase;
      if (phase === 'Failed' || phase === 'Succeeded') {
        throw new RpaError('BROWSER_GONE', `pool pod ${name} ended (${phase}) before it was ready`);
      }
      const ready = pod?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      if (pod && ready && pod.status?.podIP) return pod;
      if (Date.now() + this.pollIntervalMs > deadline) {
        throw new RpaError('BROWSER_POOL_EXHAUSTED', `pool pod ${name} was not ready within ${this.o.readyTimeoutMs} ms`);
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
   * Deletes pool pods of this installation whose manager is this pod (a restarted container
   * forgot them) or a pod that no longer exists. Pods of other live managers are left alone:
   * one that led the fleet before stops its own when it sees it no longer leads (and its pods
   * are not in the directory any more, whose registrations are fenced), and an older version's
   * worker during a rolling upgrade still uses its own.
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
