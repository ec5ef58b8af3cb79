import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import { PLAYWRIGHT_VERSION } from '../../src/browser/client/playwright-version.js';

/** One request the fake API server received, as sent. */
export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: any;
  authorization?: string;
}

export interface Fault {
  method: string;
  /** Matched against the path. */
  path: RegExp;
  /** HTTP status to answer with; undefined = answer normally but late. */
  status?: number;
  delayMs?: number;
  /** How many requests it hits; Infinity = until cleared. */
  times: number;
}

/**
 * A stand-in for the Kubernetes API server (the one part of the system that cannot run here):
 * pods in memory for the calls the fleet's Kubernetes backend makes (create, read, list with a
 * label selector, delete), every request recorded for the test to check, faults on demand,
 * and a "kubelet" that turns a created pod Ready after `readyAfterMs` with pod IP 127.0.0.1.
 */
export class FakeKubeApiServer {
  readonly requests: RecordedRequest[] = [];
  readonly pods = new Map<string, any>();
  readonly deleted: string[] = [];
  /** undefined = created pods stay Pending. */
  readyAfterMs: number | undefined = 0;
  /** Secrets a "kubelet" resolves secretKeyRefs from, by `namespace/name`. */
  readonly secrets = new Map<string, Record<string, string>>();
  /**
   * A "kubelet" that really runs created pods: resolves when the pod is Ready (its readiness probe
   * passes), then the pod is marked Ready; returns how to stop it, called on delete. Replaces
   * `readyAfterMs` when set.
   */
  runPod?: (pod: any) => Promise<() => Promise<void>>;
  private readonly running = new Map<string, Promise<(() => Promise<void>) | undefined>>();
  readonly token = `fake-sa-${randomUUID()}`;
  private faults: Fault[] = [];
  private server?: Server;
  private readonly timers = new Set<NodeJS.Timeout>();
  port = 0;

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    return this;
  }

  /** A KubeConfig built in code that points the client at this server with a bearer token. */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: `http://127.0.0.1:${this.port}`, skipTLSVerify: true }],
      users: [{ name: 'manager', token: this.token }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'manager' }],
      currentContext: 'fake',
    });
    return kc;
  }

  fault(fault: Fault): void {
    this.faults.push({ ...fault });
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Puts a pod in the store as if someone else had created it. */
  seedPod(namespace: string, pod: any): any {
    const stored = { ...pod, metadata: { uid: randomUUID(), namespace, creationTimestamp: new Date().toISOString(), ...pod.metadata } };
    this.pods.set(`${namespace}/${stored.metadata.name}`, stored);
    return stored;
  }

  markReady(namespace: string, name: string): void {
    const pod = this.pods.get(`${namespace}/${name}`);
    if (!pod) return;
    pod.status = {
      phase: 'Running',
      podIP: '127.0.0.1',
      conditions: [
        { type: 'PodScheduled', status: 'True' },
        { type: 'Ready', status: 'True' },
      ],
    };
  }

  setPhase(namespace: string, name: string, phase: string): void {
    const pod = this.pods.get(`${namespace}/${name}`);
    if (pod) pod.status = { ...(pod.status ?? {}), phase, conditions: [{ type: 'Ready', status: 'False' }] };
  }

  requestsFor(method: string, path?: RegExp): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && (!path || path.test(r.path)));
  }

  /** Resolves a container's environment as a kubelet would (values and secretKeyRefs). */
  resolveEnv(namespace: string, container: any): Record<string, string> {
    const env: Record<string, string> = {};
    for (const e of container.env ?? []) {
      if (e.value !== undefined) env[e.name] = e.value;
      else if (e.valueFrom?.secretKeyRef) {
        const ref = e.valueFrom.secretKeyRef;
        const value = this.secrets.get(`${namespace}/${ref.name}`)?.[ref.key];
        if (value === undefined) throw new Error(`secret ${ref.name} has no key ${ref.key}`);
        env[e.name] = value;
      } else throw new Error(`env ${e.name}: unsupported source`);
    }
    return env;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const running of this.running.values()) await (await running)?.();
    this.running.clear();
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake');
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body: text ? JSON.parse(text) : undefined,
      authorization: req.headers.authorization,
    };
    this.requests.push(record);

    const fault = this.faults.find((f) => f.times > 0 && f.method === record.method && f.path.test(record.path));
    if (fault) {
      fault.times--;
      if (fault.delayMs) {
        await new Promise<void>((r) => {
          const t = setTimeout(() => {
            this.timers.delete(t);
            r();
          }, fault.delayMs);
          this.timers.add(t);
        });
        if (res.destroyed) return;
      }
      if (fault.status) return this.status(res, fault.status, 'InternalError', 'injected fault');
    }
    if (record.authorization !== `Bearer ${this.token}`) return this.status(res, 401, 'Unauthorized', 'Unauthorized');

    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods(?:\/([^/]+))?$/.exec(record.path);
    if (!m) return this.status(res, 404, 'NotFound', `no route ${record.path}`);
    const namespace = m[1]!;
    const name = m[2];
    const key = `${namespace}/${name}`;

    if (record.method === 'POST' && !name) {
      const body = record.body;
      const podName = body?.metadata?.name;
      if (!podName) return this.status(res, 422, 'Invalid', 'metadata.name: Required value');
      if (this.pods.has(`${namespace}/${podName}`)) return this.status(res, 409, 'AlreadyExists', `pods "${podName}" already exists`);
      const pod = {
        ...body,
        metadata: { ...body.metadata, namespace, uid: randomUUID(), creationTimestamp: new Date().toISOString() },
        status: { phase: 'Pending' },
      };
      this.pods.set(`${namespace}/${podName}`, pod);
      if (this.runPod) {
        const started = this.runPod(pod).then(
          (stop) => {
            this.markReady(namespace, podName);
            return stop;
          },
          () => {
            this.setPhase(namespace, podName, 'Failed');
            return undefined;
          },
        );
        this.running.set(`${namespace}/${podName}`, started);
      } else if (this.readyAfterMs !== undefined) {
        const t = setTimeout(() => {
          this.timers.delete(t);
          this.markReady(namespace, podName);
        }, this.readyAfterMs);
        this.timers.add(t);
      }
      return this.json(res, 201, pod);
    }
    if (record.method === 'GET' && !name) {
      const selector = parseSelector(record.query.labelSelector ?? '');
      const items = [...this.pods.values()].filter(
        (p) => p.metadata.namespace === namespace && Object.entries(selector).every(([k, v]) => p.metadata.labels?.[k] === v),
      );
      return this.json(res, 200, { apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: '1' }, items });
    }
    const pod = this.pods.get(key);
    if (!pod) return this.status(res, 404, 'NotFound', `pods "${name}" not found`);
    if (record.method === 'GET') return this.json(res, 200, pod);
    if (record.method === 'DELETE') {
      this.pods.delete(key);
      const running = this.running.get(key);
      this.running.delete(key);
      if (running) await (await running)?.();
      this.deleted.push(name!);
      return this.json(res, 200, { ...pod, metadata: { ...pod.metadata, deletionTimestamp: new Date().toISOString() } });
    }
    return this.status(res, 405, 'MethodNotAllowed', 'method not allowed');
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private status(res: ServerResponse, code: number, reason: string, message: string): void {
    this.json(res, code, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code });
  }
}

function parseSelector(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',').filter(Boolean)) {
    const [k, v] = part.split('=');
    out[k!] = v ?? '';
  }
  return out;
}

/**
 * What a pool pod serves on its pool port for the fleet: `/health/ready` (the readiness wait) and
 * `GET /status` (leases and room, read every round), both behind the pool token, as the real
 * pool answers them. `ready` flips readiness; `busy` and `freeSlots` are what /status reports;
 * `calls` records every request with the token it carried.
 */
export class FakePoolHealth {
  ready = true;
  busy = 0;
  freeSlots = 4;
  calls: { path: string; authorization?: string }[] = [];
  port = 0;
  private server?: Server;

  constructor(private readonly token: string) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.calls.push({ path: req.url ?? '', authorization: req.headers.authorization });
      if (req.headers.authorization !== `Bearer ${this.token}`) return void res.writeHead(401).end();
      if (req.url === '/health/ready') {
        return void res.writeHead(this.ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ready: this.ready }));
      }
      if (req.url === '/status') {
        return void res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ playwrightVersion: PLAYWRIGHT_VERSION, size: 1, busyContexts: this.busy, openContexts: this.busy, freeSlots: this.freeSlots }));
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    return this;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}
