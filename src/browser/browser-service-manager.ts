import { EventEmitter, once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { RpaError } from '../errors/failures.js';
import { coerceError } from '../errors/coerce-error.js';
import type { Logger } from '../logger.js';
import { pickPool, planScaling, type CapacityDemand, type CapacityPolicy, type PoolView } from './browser-capacity.js';

/** A ready browser-pool service the workers can lease contexts from. */
export interface BrowserPoolEndpoint {
  /** Pod name (cluster) or local id. */
  id: string;
  /** Base URL of the pool's HTTP API (`/health/*`, `/status`, `/leases`). */
  url: string;
  /** Bearer token of the pool's API. Never log it. */
  token?: string;
}

export interface CapacityResult {
  desired: number;
  created: string[];
  removed: string[];
  failed: { id: string; error: RpaError }[];
}

/**
 * Where browsers come from. Workers ask for an endpoint and give it back; whether it is a pod
 * in the cluster or a process on this machine is the manager's business.
 */
export interface BrowserServiceManager {
  /** Cleans up services a previous run left behind, starts the warm pool and the periodic reconcile. */
  start(): Promise<void>;
  /** Services that are ready now. */
  endpoints(): BrowserPoolEndpoint[];
  /** Scales to the queue depth (within the configured maximum); resolves when new services are ready or failed. */
  ensureCapacity(demand: CapacityDemand): Promise<CapacityResult>;
  /** The least-leased ready service; starts one and waits for it when none is ready. */
  acquire(): Promise<BrowserPoolEndpoint>;
  /** Gives a service back; `retire` stops it at once (a broken browser, a leak). */
  release(id: string, options?: { retire?: boolean }): Promise<void>;
  /** Stops every service this manager started. */
  close(): Promise<void>;
}

/** What differs between a pod and a local process: starting, probing and stopping one service. */
export interface BrowserServiceBackend {
  /** Stops services an earlier run of this manager left behind; returns their ids. */
  cleanupOrphans(): Promise<string[]>;
  /** Starts one service and resolves once it serves `/health/ready`. Stops it again on failure. */
  provision(id: string, signal: AbortSignal): Promise<BrowserPoolEndpoint>;
  /** False once the service is gone (pod deleted or failed, process exited). */
  isAlive(id: string): Promise<boolean>;
  /** Stops one service; a service already gone is not an error. */
  terminate(id: string): Promise<void>;
  close(): Promise<void>;
}

export interface PooledManagerOptions {
  policy: CapacityPolicy;
  backend: BrowserServiceBackend;
  logger: Logger;
  /** How long `acquire` waits for a service to become ready. */
  readyTimeoutMs: number;
  /** Period of the background reconcile (warm pool, idle timeout, dead services). 0 = none. */
  reconcileIntervalMs?: number;
  /** Prefix of new service ids. */
  idPrefix?: string;
  now?: () => Date;
}

interface PoolEntry extends PoolView {
  endpoint?: BrowserPoolEndpoint;
  abort: AbortController;
  ready?: Promise<void>;
}

/**
 * Keeps the set of browser-pool services at the size `planScaling` asks for, hands out the
 * least-leased one, and stops idle ones; the backend does the starting and stopping.
 */
export class PooledBrowserServiceManager implements BrowserServiceManager {
  private readonly pools = new Map<string, PoolEntry>();
  private readonly changes = new EventEmitter();
  private demand: CapacityDemand = { queuedJobs: 0 };
  private timer?: NodeJS.Timeout;
  private closed = false;
  private readonly now: () => Date;
  private readonly log: Logger;

  constructor(private readonly options: PooledManagerOptions) {
    this.now = options.now ?? (() => new Date());
    this.log = options.logger;
    this.changes.setMaxListeners(0);
  }

  async start(): Promise<void> {
    const orphans = await this.options.backend.cleanupOrphans();
    if (orphans.length > 0) this.log.warn({ orphans }, 'stopped browser services left by an earlier run');
    await this.ensureCapacity(this.demand);
    const every = this.options.reconcileIntervalMs ?? 15_000;
    // Closed while starting (a worker stopped during its warm-up): no timer to outlive it.
    if (every > 0 && !this.closed) {
      this.timer = setInterval(() => {
        this.reconcile().catch((err) => this.log.warn({ err: coerceError(err).toJSON() }, 'browser service reconcile failed'));
      }, every);
      this.timer.unref();
    }
  }

  endpoints(): BrowserPoolEndpoint[] {
    return [...this.pools.values()].filter((p) => p.state === 'ready' && p.endpoint).map((p) => ({ ...p.endpoint! }));
  }

  /** What the planner sees; for status pages and tests. */
  snapshot(): PoolView[] {
    return [...this.pools.values()].map(({ id, state, leases, idleSince }) => ({ id, state, leases, idleSince }));
  }

  async ensureCapacity(demand: CapacityDemand): Promise<CapacityResult> {
    this.demand = { queuedJobs: Math.max(0, demand.queuedJobs) };
    return this.reconcile();
  }

  /** Drops dead services, then grows or shrinks to the plan for the last demand. */
  async reconcile(): Promise<CapacityResult> {
    if (this.closed) return { desired: 0, created: [], removed: [], failed: [] };
    await this.dropDead();
    const plan = planScaling(this.options.policy, this.snapshot(), this.demand, this.now());
    const created: string[] = [];
    const starting: Promise<{ id: string; error?: RpaError }>[] = [];
    for (let i = 0; i < plan.create; i++) {
      const entry = this.add();
      created.push(entry.id);
      starting.push(entry.ready!.then(() => ({ id: entry.id }), (err: unknown) => ({ id: entry.id, error: coerceError(err) })));
    }
    const removed = plan.remove;
    await Promise.all(removed.map((id) => this.stop(id, 'idle')));
    const failed = (await Promise.all(starting)).filter((r): r is { id: string; error: RpaError } => r.error !== undefined);
    return { desired: plan.desired, created, removed, failed };
  }

  async acquire(): Promise<BrowserPoolEndpoint> {
    const deadline = Date.now() + this.options.readyTimeoutMs;
    for (;;) {
      if (this.closed) throw new RpaError('BROWSER_GONE', 'browser service manager is closed');
      const pool = pickPool([...this.pools.values()]);
      if (pool?.endpoint) {
        pool.leases++;
        return { ...pool.endpoint };
      }
      if (![...this.pools.values()].some((p) => p.state === 'starting')) {
        if (this.pools.size >= this.options.policy.maxPools) {
          throw new RpaError('BROWSER_POOL_EXHAUSTED', 'no browser service is ready and the maximum is reached');
        }
        this.add().ready!.catch(() => undefined);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new RpaError('BROWSER_POOL_EXHAUSTED', 'no browser service became ready in time');
      await once(this.changes, 'change', { signal: AbortSignal.timeout(left) }).catch(() => undefined);
    }
  }

  async release(id: string, options: { retire?: boolean } = {}): Promise<void> {
    const pool = this.pools.get(id);
    if (!pool) return;
    pool.leases = Math.max(0, pool.leases - 1);
    if (pool.leases === 0) pool.idleSince = this.now().getTime();
    if (options.retire) await this.stop(id, 'retired');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await Promise.all([...this.pools.keys()].map((id) => this.stop(id, 'closing')));
    await this.options.backend.close();
    this.changes.emit('change');
  }

  private add(): PoolEntry {
    const id = `${this.options.idPrefix ?? 'browser'}-${randomBytes(4).toString('hex')}`;
    const entry: PoolEntry = { id, state: 'starting', leases: 0, idleSince: this.now().getTime(), abort: new AbortController() };
    this.pools.set(id, entry);
    const log = this.log.child({ browser_service: id });
    log.info('starting browser service');
    entry.ready = this.options.backend.provision(id, entry.abort.signal).then(
      (endpoint) => {
        if (this.pools.get(id) !== entry) return;
        entry.endpoint = endpoint;
        entry.state = 'ready';
        entry.idleSince = this.now().getTime();
        log.info('browser service ready');
        this.changes.emit('change');
      },
      (err: unknown) => {
        if (this.pools.get(id) === entry) this.pools.delete(id);
        const error = coerceError(err);
        log.warn({ err: error.toJSON() }, 'browser service failed to start');
        this.changes.emit('change');
        throw error;
      },
    );
    return entry;
  }

  private async stop(id: string, why: string): Promise<void> {
    const entry = this.pools.get(id);
    if (!entry) return;
    this.pools.delete(id);
    entry.abort.abort();
    this.log.info({ browser_service: id, why }, 'stopping browser service');
    try {
      await this.options.backend.terminate(id);
    } catch (err) {
      this.log.warn({ browser_service: id, err: coerceError(err).toJSON() }, 'stopping browser service failed');
    }
    this.changes.emit('change');
  }

  private async dropDead(): Promise<void> {
    const ready = [...this.pools.values()].filter((p) => p.state === 'ready');
    await Promise.all(
      ready.map(async (p) => {
        let alive = true;
        try {
          alive = await this.options.backend.isAlive(p.id);
        } catch (err) {
          // Cannot tell (API server down): keep it; the workers notice a dead pool themselves.
          this.log.warn({ browser_service: p.id, err: coerceError(err).toJSON() }, 'cannot check browser service');
        }
        if (!alive) await this.stop(p.id, 'gone');
      }),
    );
  }
}

/** Polls `url/health/ready` until it answers 2xx, the deadline passes, or `signal` aborts. */
export async function waitForPoolReady(url: string, token: string | undefined, deadline: number, signal: AbortSignal, intervalMs = 250): Promise<void> {
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (signal.aborted) throw new RpaError('BROWSER_GONE', 'browser service start was cancelled');
    try {
      const res = await fetch(`${url}/health/ready`, {
        headers: token ? { authorization: `Bearer ${token}` } : {},
        signal: AbortSignal.any([signal, AbortSignal.timeout(Math.max(100, Math.min(5000, deadline - Date.now())))]),
      });
      await res.body?.cancel();
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).name === 'TimeoutError' ? 'timed out' : 'connection failed';
    }
    await new Promise((r) => setTimeout(r, intervalMs).unref());
  }
  throw new RpaError('BROWSER_POOL_EXHAUSTED', `browser service did not become ready in time (last: ${last})`);
}
