import { randomBytes } from 'node:crypto';
import { coerceError } from '../../errors/coerce-error.js';
import type { RpaError } from '../../errors/failures.js';
import type { Logger } from '../../logger.js';
import { PoolClient } from '../client/pool-client.js';
import type { Fence, PoolDirectory } from '../client/pool-directory.js';
import type { PoolToken } from '../client/pool-token.js';
import { withTimeout } from '../../infra/with-timeout.js';
import { planScaling, type CapacityDemand, type CapacityPolicy, type PoolView } from './capacity-plan.js';
import type { PoolBackend, StartedPool } from './pool-backend.js';

export interface FleetManagerOptions {
  policy: CapacityPolicy;
  backend: PoolBackend;
  /** The token every pool of this fleet is started with. Never logged, never in the directory. */
  token: PoolToken;
  logger: Logger;
  /** How long a new pool may take to become ready (BROWSER_READY_TIMEOUT_MS). */
  readyTimeoutMs: number;
  /** Where ready pools are registered for the batch children (none: a manager tried on its own). */
  directory?: PoolDirectory;
  /** Shown in the directory as the pools' owner (the worker's member id). */
  registeredBy: string;
  /** The leader's fence: pools are started and registered only while it holds. */
  leadership?: { fence(): Fence | undefined; stillLeading(): Promise<boolean> };
  /** How long a registration counts without a refresh (default 20 s; the fleet refreshes every 5 s). */
  registrationTtlMs?: number;
  /** Prefix of new pool ids. */
  idPrefix?: string;
  /** Timeout of a pool's GET /status (default 5 s). */
  statusTimeoutMs?: number;
  now?: () => Date;
}

export interface ScalingResult {
  desired: number;
  created: string[];
  removed: string[];
  failed: { id: string; error: RpaError }[];
}

/** A decision taken: what was started (still starting) and stopped. */
export interface ScalingDecision extends Omit<ScalingResult, 'failed'> {
  /** Resolves once every pool started by this decision is ready or failed. */
  started: Promise<ScalingResult['failed']>;
}

interface Pool extends PoolView {
  url?: string;
  freeSlots: number;
  failedStatus: number;
  abort: AbortController;
  ready?: Promise<void>;
  client?: PoolClient;
}

/** Status answers a ready pool may miss in a row before it counts as gone. */
const MAX_FAILED_STATUS = 3;

/**
 * The leader's pools: keeps their number at what `planScaling` asks for, reads each ready pool's
 * leases and room from its own GET /status, registers ready pools in the directory (fenced on
 * the leader's lock), and stops idle ones; the backend starts and stops them (pods or local
 * processes).
 */
export class FleetManager {
  private readonly pools = new Map<string, Pool>();
  private readonly now: () => Date;
  private readonly log: Logger;
  private fencedOut = false;
  private closed = false;

  constructor(private readonly o: FleetManagerOptions) {
    this.now = o.now ?? (() => new Date());
    this.log = o.logger.child({ component: 'fleet-manager' });
  }

  /** Stops pools an earlier run left behind (a leader that died, this process before a restart). */
  async start(): Promise<string[]> {
    const orphans = await this.o.backend.cleanupOrphans();
    if (orphans.length > 0) this.log.warn({ orphans }, 'stopped pools left by an earlier run');
    return orphans;
  }

  /** What the planner sees, and each ready pool's address; for /health and tests. */
  snapshot(): (PoolView & { url?: string; freeSlots: number })[] {
    return [...this.pools.values()].map(({ id, state, leases, idleSince, url, freeSlots }) => ({ id, state, leases, idleSince, url, freeSlots }));
  }

  /** Ready pools and where they answer. */
  endpoints(): { id: string; url: string }[] {
    return [...this.pools.values()].filter((p) => p.state === 'ready' && p.url).map((p) => ({ id: p.id, url: p.url! }));
  }

  /** One decision, then waits for the pools it started: ready or failed. */
  async reconcile(demand: CapacityDemand): Promise<ScalingResult> {
    const decision = await this.decide(demand);
    return { desired: decision.desired, created: decision.created, removed: decision.removed, failed: await decision.started };
  }

  /**
   * Drops dead pools, reads the live ones' leases, then grows or shrinks to the plan. New pools
   * are started but not waited for (`started`): the next decision counts them as starting.
   */
  async decide(demand: CapacityDemand): Promise<ScalingDecision> {
    const none: ScalingDecision = { desired: 0, created: [], removed: [], started: Promise.resolve([]) };
    if (this.closed) return none;
    await this.dropDead();
    await this.observe();
    const plan = planScaling(this.o.policy, this.snapshot(), demand, this.now());
    if (plan.create > 0 && this.o.leadership && !(await this.o.leadership.stillLeading())) {
      this.log.warn('not starting pools: this worker no longer leads the fleet');
      return { ...none, desired: plan.desired };
    }
    const created: string[] = [];
    const starting: Promise<{ id: string; error?: RpaError }>[] = [];
    for (let i = 0; i < plan.create; i++) {
      const pool = this.add();
      created.push(pool.id);
      starting.push(pool.ready!.then(() => ({ id: pool.id }), (err: unknown) => ({ id: pool.id, error: coerceError(err) })));
    }
    await Promise.all(plan.remove.map((id) => this.stop(id, 'idle')));
    const started = Promise.all(starting).then((results) => results.filter((r): r is { id: string; error: RpaError } => r.error !== undefined));
    return { desired: plan.desired, created, removed: plan.remove, started };
  }

  /** Reads every ready pool's leases and room, and refreshes its directory entry. */
  async refresh(): Promise<void> {
    if (this.closed) return;
    await this.observe();
    await this.publish();
  }

  /** Stops every pool (demoted, or closing) and takes them out of the directory; the manager can go on. */
  async stopAll(why: string): Promise<void> {
    await Promise.all([...this.pools.keys()].map((id) => this.stop(id, why)));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Every step runs even when one fails: the pools this process started must stop.
    await this.stopAll('closing').catch((err: unknown) => this.log.warn({ err: coerceError(err).toJSON() }, 'stopping pools failed'));
    await this.o.backend.close().catch((err: unknown) => this.log.warn({ err: coerceError(err).toJSON() }, 'closing the pool backend failed'));
  }

  private add(): Pool {
    const id = `${this.o.idPrefix ?? 'pool'}-${randomBytes(4).toString('hex')}`;
    const pool: Pool = { id, state: 'starting', leases: 0, idleSince: this.now().getTime(), freeSlots: 0, failedStatus: 0, abort: new AbortController() };
    this.pools.set(id, pool);
    const log = this.log.child({ pool_id: id });
    log.info('starting pool');
    pool.ready = this.o.backend.provision(id, pool.abort.signal).then(
      async (started: StartedPool) => {
        if (this.pools.get(id) !== pool) return;
        pool.url = started.url;
        pool.client = new PoolClient({ url: started.url, token: this.o.token.token, requestTimeoutMs: this.o.statusTimeoutMs ?? 5_000, logger: log });
        pool.state = 'ready';
        pool.idleSince = this.now().getTime();
        log.info('pool ready');
        // Registered at once, so that a batch waiting for a browser need not wait for the next refresh.
        await this.observeOne(pool);
        await this.publishOne(pool);
      },
      (err: unknown) => {
        if (this.pools.get(id) === pool) this.pools.delete(id);
        const error = coerceError(err);
        // Stopped while starting (demoted, closing): not a failure of the pool.
        if (pool.abort.signal.aborted) log.info('pool start cancelled');
        else log.warn({ err: error.toJSON() }, 'pool failed to start');
        throw error;
      },
    );
    return pool;
  }

  private async stop(id: string, why: string): Promise<void> {
    const pool = this.pools.get(id);
    if (!pool) return;
    this.pools.delete(id);
    pool.abort.abort();
    this.log.info({ pool_id: id, why }, 'stopping pool');
    // Out of the directory first, so that no batch leases from a pool about to go.
    await this.o.directory?.remove(id).catch((err: unknown) => this.log.warn({ pool_id: id, err: coerceError(err).toJSON() }, 'removing a pool from the directory failed'));
    try {
      await this.o.backend.terminate(id);
    } catch (err) {
      this.log.warn({ pool_id: id, err: coerceError(err).toJSON() }, 'stopping pool failed');
    }
    await pool.client?.close().catch(() => undefined);
  }

  private async observe(): Promise<void> {
    await Promise.all([...this.pools.values()].filter((p) => p.state === 'ready').map((p) => this.observeOne(p)));
  }

  private async observeOne(pool: Pool): Promise<void> {
    if (!pool.client) return;
    try {
      const status = await withTimeout(pool.client.status(), this.o.statusTimeoutMs ?? 5_000, () => new Error('no status in time'));
      pool.leases = status.busyContexts;
      pool.freeSlots = status.freeSlots;
      pool.failedStatus = 0;
      if (pool.leases > 0) pool.idleSince = this.now().getTime();
    } catch (err) {
      pool.failedStatus += 1;
      this.log.warn({ pool_id: pool.id, failed: pool.failedStatus, err: coerceError(err).toJSON() }, 'pool did not report its status');
      if (pool.failedStatus >= MAX_FAILED_STATUS && this.pools.get(pool.id) === pool) await this.stop(pool.id, 'unresponsive');
    }
  }

  private async publish(): Promise<void> {
    await Promise.all([...this.pools.values()].filter((p) => p.state === 'ready').map((p) => this.publishOne(p)));
  }

  private async publishOne(pool: Pool): Promise<void> {
    const directory = this.o.directory;
    if (!directory || !pool.url || this.pools.get(pool.id) !== pool) return;
    const fence = this.o.leadership?.fence();
    if (this.o.leadership && !fence) return;
    try {
      const written = await directory.register(
        { id: pool.id, url: pool.url, tokenId: this.o.token.id, freeSlots: pool.freeSlots, busyContexts: pool.leases, registeredBy: this.o.registeredBy },
        this.o.registrationTtlMs ?? 20_000,
        fence,
      );
      if (!written && !this.fencedOut) this.log.warn({ pool_id: pool.id }, 'the directory refused a registration: this worker no longer leads the fleet');
      this.fencedOut = !written;
    } catch (err) {
      this.log.warn({ pool_id: pool.id, err: coerceError(err).toJSON() }, 'registering a pool in the directory failed');
    }
  }

  private async dropDead(): Promise<void> {
    const ready = [...this.pools.values()].filter((p) => p.state === 'ready');
    await Promise.all(
      ready.map(async (p) => {
        let alive = true;
        try {
          alive = await this.o.backend.isAlive(p.id);
        } catch (err) {
          // Cannot tell (API server down): keep it; its status answers tell the rest.
          this.log.warn({ pool_id: p.id, err: coerceError(err).toJSON() }, 'cannot check pool');
        }
        if (!alive) await this.stop(p.id, 'gone');
      }),
    );
  }
}
