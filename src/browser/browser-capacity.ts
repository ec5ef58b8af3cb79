import type { Config } from '../config/config.js';
import { RpaError } from '../errors/failures.js';

/**
 * How many browser-pool services to run, decided from the clock and the queues alone: no I/O,
 * so every scaling decision is testable with a fixed time and fixed numbers.
 */

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

/** Weekdays and a daily window, in one IANA time zone. `end` is exclusive; `end <= start` spans midnight. */
export interface BusinessHours {
  days: ReadonlySet<number>;
  startMinute: number;
  endMinute: number;
  timeZone: string;
}

/** Parses `mon-fri 07:00-19:00` (or a single day, `sat 08:00-12:00`) in `timeZone`. */
export function parseBusinessHours(text: string, timeZone: string): BusinessHours {
  const m = /^([a-z]{3})(?:-([a-z]{3}))?\s+(\d{2}):(\d{2})-(\d{2}):(\d{2})$/i.exec(text.trim());
  const fail = (why: string) => new RpaError('CONFIG_INVALID', `BROWSER_BUSINESS_HOURS: ${why}`, { field: 'BROWSER_BUSINESS_HOURS' });
  if (!m) throw fail('must look like "mon-fri 07:00-19:00"');
  const from = DAYS.indexOf(m[1]!.toLowerCase() as (typeof DAYS)[number]);
  const to = m[2] === undefined ? from : DAYS.indexOf(m[2].toLowerCase() as (typeof DAYS)[number]);
  if (from < 0 || to < 0) throw fail('unknown weekday');
  const days = new Set<number>();
  for (let d = from; ; d = (d + 1) % 7) {
    days.add(d);
    if (d === to) break;
  }
  const minute = (h: string, mm: string) => {
    const hours = Number(h);
    const minutes = Number(mm);
    if (hours > 24 || minutes > 59 || (hours === 24 && minutes > 0)) throw fail(`bad time ${h}:${mm}`);
    return hours * 60 + minutes;
  };
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch (cause) {
    throw new RpaError('CONFIG_INVALID', `BROWSER_TIME_ZONE: unknown time zone "${timeZone}"`, { field: 'BROWSER_TIME_ZONE', cause });
  }
  return { days, startMinute: minute(m[3]!, m[4]!), endMinute: minute(m[5]!, m[6]!), timeZone };
}

/** Weekday (0 = Sunday) and minute of the day of `now` in `timeZone`. */
function localTime(now: Date, timeZone: string): { day: number; minute: number } {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(now);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  const day = DAYS.indexOf(get('weekday').toLowerCase().slice(0, 3) as (typeof DAYS)[number]);
  return { day, minute: Number(get('hour')) * 60 + Number(get('minute')) };
}

/** True when `now` falls inside the business hours. A window past midnight belongs to the day it starts. */
export function inBusinessHours(hours: BusinessHours | undefined, now: Date): boolean {
  if (!hours) return false;
  const { day, minute } = localTime(now, hours.timeZone);
  if (hours.startMinute < hours.endMinute) {
    return hours.days.has(day) && minute >= hours.startMinute && minute < hours.endMinute;
  }
  const yesterday = (day + 6) % 7;
  return (hours.days.has(day) && minute >= hours.startMinute) || (hours.days.has(yesterday) && minute < hours.endMinute);
}

export interface CapacityPolicy {
  maxPools: number;
  warmPools: number;
  jobsPerPool: number;
  idleTimeoutMs: number;
  businessHours?: BusinessHours;
}

/** One running or starting service as the planner sees it. */
export interface PoolView {
  id: string;
  state: 'starting' | 'ready';
  /** Leases the workers hold on it right now. */
  leases: number;
  /** Since when it has had no lease (ms epoch); for a busy pool, irrelevant. */
  idleSince: number;
}

export interface CapacityDemand {
  /** Jobs waiting on the provider queues, summed. */
  queuedJobs: number;
}

export interface ScalingPlan {
  /** The number of services wanted, within [0, maxPools]. */
  desired: number;
  /** How many new services to start. */
  create: number;
  /** Ids of services to stop: idle ones above the wanted count, longest idle first. */
  remove: string[];
}

/**
 * The wanted number of services: the warm pool during business hours, one per `jobsPerPool`
 * queued jobs, never fewer than those holding leases, never more than `maxPools`.
 */
export function desiredPools(policy: CapacityPolicy, demand: CapacityDemand, busyPools: number, now: Date): number {
  const warm = inBusinessHours(policy.businessHours, now) ? policy.warmPools : 0;
  const byQueue = Math.ceil(Math.max(0, demand.queuedJobs) / policy.jobsPerPool);
  return Math.min(policy.maxPools, Math.max(warm, byQueue, busyPools));
}

/**
 * Compares the services there are with the wanted count. Grows at once (queued work waits);
 * shrinks only by services with no lease that have been idle for `idleTimeoutMs`, so a queue
 * that dips for a moment does not throw away a browser that takes seconds to start.
 */
export function planScaling(policy: CapacityPolicy, pools: readonly PoolView[], demand: CapacityDemand, now: Date): ScalingPlan {
  const busy = pools.filter((p) => p.leases > 0).length;
  const desired = desiredPools(policy, demand, busy, now);
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

/** The ready service with the fewest leases (ties: the oldest id order), or undefined. */
export function pickPool<T extends PoolView>(pools: readonly T[]): T | undefined {
  return pools.filter((p) => p.state === 'ready').sort((a, b) => a.leases - b.leases || a.id.localeCompare(b.id))[0];
}

/** Capacity policy from the settings. */
export function capacityPolicy(config: Config): CapacityPolicy {
  const m = config.browserManager;
  return {
    maxPools: m.maxPools,
    warmPools: Math.min(m.warmPools, m.maxPools),
    jobsPerPool: m.jobsPerPool,
    idleTimeoutMs: m.idleTimeoutMs,
    businessHours: m.businessHours ? parseBusinessHours(m.businessHours, m.timeZone) : undefined,
  };
}
