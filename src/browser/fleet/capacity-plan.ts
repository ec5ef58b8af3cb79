/**
 * How many pools the fleet runs, decided from numbers alone: no clock reading, no I/O, so every
 * scaling decision is testable with fixed inputs. The warm minimum (business hours, schedules
 * about to run) comes from WarmSchedule; the queue depth from queuedBrowserDemand.
 */

export interface CapacityPolicy {
  /** Most pools at once, over the whole fleet (BROWSER_MAX_POOLS). */
  maxPools: number;
  /** Queued jobs one pool is expected to absorb (BROWSER_JOBS_PER_POOL). */
  jobsPerPool: number;
  /** A pool above the wanted count, with no lease, is stopped after this long idle (BROWSER_IDLE_TIMEOUT_MS). */
  idleTimeoutMs: number;
}

/** One running or starting pool as the planner sees it. */
export interface PoolView {
  id: string;
  state: 'starting' | 'ready';
  /** Leases held on it right now (the pool's own count, GET /status busyContexts). */
  leases: number;
  /** Since when it has had no lease (ms epoch); for a busy pool, irrelevant. */
  idleSince: number;
}

export interface CapacityDemand {
  /** Jobs that will want a browser soon, over every provider (queuedBrowserDemand). */
  queuedJobs: number;
  /** Pools to keep even with nothing queued (WarmSchedule: business hours, schedules due soon). */
  warmMinimum: number;
}

export interface ScalingPlan {
  /** The number of pools wanted, within [0, maxPools]. */
  desired: number;
  /** How many new pools to start. */
  create: number;
  /** Ids of pools to stop: idle ones above the wanted count, longest idle first. */
  remove: string[];
}

/**
 * The wanted number of pools: the warm minimum, one per `jobsPerPool` queued jobs, never fewer
 * than those holding leases, never more than `maxPools`.
 */
export function desiredPools(policy: CapacityPolicy, demand: CapacityDemand, busyPools: number): number {
  const byQueue = Math.ceil(Math.max(0, demand.queuedJobs) / policy.jobsPerPool);
  return Math.min(policy.maxPools, Math.max(Math.max(0, demand.warmMinimum), byQueue, busyPools));
}

/**
 * Compares the pools there are with the wanted count. Grows at once (queued work waits);
 * shrinks only by pools with no lease that have been idle for `idleTimeoutMs`, so a queue that
 * dips for a moment does not throw away a browser that takes seconds (a pod: minutes) to start.
 */
export function planScaling(policy: CapacityPolicy, pools: readonly PoolView[], demand: CapacityDemand, now: Date): ScalingPlan {
  const busy = pools.filter((p) => p.leases > 0).length;
  const desired = desiredPools(policy, demand, busy);
  const current = pools.length;
  if (current < desired) return { desired, create: desired - current, remove: [] };
  const excess = current - desired;
  const removable = pools
    .filter((p) => p.state === 'ready' && p.leases === 0 && now.getTime() - p.idleSince >= policy.idleTimeoutMs)
    .sort((a, b) => a.idleSince - b.idleSince || a.id.localeCompare(b.id))
    .slice(0, excess)
    .map((p) => p.id);
  return { desired, create: 0, remove: removable };
}
