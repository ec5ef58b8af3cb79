import type { Response } from 'express';
import type { ValkeyClient } from '../queues/valkey.js';
import ipaddr from 'ipaddr.js';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { KeyRole } from '../db/schema.js';
import { RpaError } from '../errors/failures.js';
import type { Logger } from '../logger.js';

/** RATE_LIMIT_* (src/config/settings.ts). */
export interface RateLimitSettings {
  windowMs: number;
  /** Requests per window for one API key, by its role. */
  requests: Readonly<Record<KeyRole, number>>;
  /** Jobs submitted per window for one API key, by its role (a bulk request counts its jobs). */
  jobs: Readonly<Record<KeyRole, number>>;
  /** Requests per window from one client address without a valid key. */
  anonymous: number;
  /** Wrong keys one address may present per `failedLoginWindowMs`. */
  failedLogins: number;
  failedLoginWindowMs: number;
}

export interface RateLimitsOptions {
  /** A producer connection (no offline queue: a command fails at once while Valkey is away). */
  redis: ValkeyClient;
  /** QUEUE_PREFIX: every replica of one installation counts in the same keys. */
  prefix: string;
  settings: RateLimitSettings;
  logger: Logger;
  /** How long a count may take before the request goes on without it (default 1 s). */
  timeoutMs?: number;
}

/** What RateLimit-* answer with: the policy closest to running out of the ones a request counted in. */
interface Shown {
  limit: number;
  remaining: number;
  resetS: number;
}

// RateLimiterRedis, not RateLimiterValkey: the latter's script calls `server.call`, which only
// Valkey 8 knows; `redis.call` runs on Valkey and on the redis-server the tests and `npm start` may use.
type Limiter = RateLimiterRedis | undefined;

/**
 * The API's rate limits, counted in Valkey (rate-limiter-flexible) so that every API replica
 * shares them: requests per API key (by role), jobs submitted per key (a bulk request counts its
 * jobs), requests per client address without a valid key, and wrong keys per address (API and
 * Bull Board login). Each answer carries `RateLimit-Limit`, `RateLimit-Remaining` and
 * `RateLimit-Reset` (draft-ietf-httpapi-ratelimit-headers); a refusal is 429 RATE_LIMITED with
 * `Retry-After`.
 *
 * Fails open: when Valkey does not answer (down, or slower than `timeoutMs`), the request goes on
 * uncounted and a warning is logged (at most one every 30 s). Postgres is the truth and a job
 * accepted then is safe; an outage of the counter must not stop submissions.
 */
export class RateLimits {
  private readonly requestLimiters: Map<KeyRole, Limiter>;
  private readonly jobLimiters: Map<KeyRole, Limiter>;
  private readonly anonymousLimiter: RateLimiterRedis;
  private readonly failedLoginLimiter: RateLimiterRedis;
  private readonly timeoutMs: number;
  private lastWarning = 0;

  constructor(private readonly options: RateLimitsOptions) {
    const { redis, prefix, settings } = options;
    const windowS = Math.max(1, Math.round(settings.windowMs / 1_000));
    const limiter = (name: string, points: number, durationS: number): Limiter =>
      points > 0 ? new RateLimiterRedis({ storeClient: redis, keyPrefix: `{${prefix}-rl}:${name}`, points, duration: durationS, rejectIfRedisNotReady: true }) : undefined;
    const roles = Object.keys(settings.requests) as KeyRole[];
    this.requestLimiters = new Map(roles.map((role) => [role, limiter(`requests-${role}`, settings.requests[role], windowS)]));
    this.jobLimiters = new Map(roles.map((role) => [role, limiter(`jobs-${role}`, settings.jobs[role], windowS)]));
    this.anonymousLimiter = limiter('anonymous', settings.anonymous, windowS)!;
    this.failedLoginLimiter = limiter('failed-logins', settings.failedLogins, Math.max(1, Math.round(settings.failedLoginWindowMs / 1_000)))!;
    this.timeoutMs = options.timeoutMs ?? 1_000;
  }

  /** One request of an API key. */
  async request(res: Response, identity: { name: string; role: KeyRole }): Promise<void> {
    await this.consume(res, this.requestLimiters.get(identity.role), identity.name, 1, `requests for API key "${identity.name}"`);
  }

  /** `count` jobs submitted by an API key (after its request was counted). */
  async jobs(res: Response, identity: { name: string; role: KeyRole }, count: number): Promise<void> {
    const limiter = this.jobLimiters.get(identity.role);
    const points = this.options.settings.jobs[identity.role];
    if (count > points) {
      throw new RpaError('RATE_LIMITED', `this request holds ${count} jobs, more than the ${points} a ${identity.role} key may submit per ${this.windowText()}: split it`, { field: 'jobs' });
    }
    await this.consume(res, limiter, identity.name, count, `jobs submitted with API key "${identity.name}"`);
  }

  /** One request from `address` that carries no valid key. */
  async anonymous(res: Response, address: string): Promise<void> {
    await this.consume(res, this.anonymousLimiter, addressKey(address), 1, 'requests without a valid API key from this address');
  }

  /** Before a key is checked: an address that used up its wrong keys is refused until its window ends. */
  async assertLoginAllowed(res: Response, address: string): Promise<void> {
    const state = await this.guard(() => this.failedLoginLimiter.get(addressKey(address)));
    if (state && state.consumedPoints >= this.options.settings.failedLogins) {
      const retryS = Math.max(1, Math.ceil(state.msBeforeNext / 1_000));
      res.setHeader('Retry-After', String(retryS));
      throw new RpaError('RATE_LIMITED', `too many wrong API keys from this address: try again in ${retryS} s`);
    }
  }

  /** A wrong key from `address`. */
  async loginFailed(address: string): Promise<void> {
    await this.guard(() => this.failedLoginLimiter.consume(addressKey(address), 1).catch((rejected: unknown) => {
      if (rejected instanceof RateLimiterRes) return rejected;
      throw rejected;
    }));
  }

  private windowText(): string {
    const s = Math.round(this.options.settings.windowMs / 1_000);
    return s % 60 === 0 ? `${s / 60} min` : `${s} s`;
  }

  private async consume(res: Response, limiter: Limiter, key: string, points: number, what: string): Promise<void> {
    if (!limiter) throw new RpaError('RATE_LIMITED', `no ${what} are allowed (RATE_LIMIT_* gives this role 0)`);
    // consume() rejects with a RateLimiterRes when over the limit, with an Error when Valkey failed.
    const outcome = await this.guard(async () => {
      try {
        return { ok: true, res: await limiter.consume(key, points) };
      } catch (rejected) {
        if (rejected instanceof RateLimiterRes) return { ok: false, res: rejected };
        throw rejected;
      }
    });
    if (!outcome) return;
    const resetS = Math.max(1, Math.ceil(outcome.res.msBeforeNext / 1_000));
    show(res, { limit: limiter.points, remaining: outcome.res.remainingPoints, resetS }, !outcome.ok);
    if (!outcome.ok) {
      res.setHeader('Retry-After', String(resetS));
      throw new RpaError('RATE_LIMITED', `too many ${what}: at most ${limiter.points} per ${this.windowText()}; try again in ${resetS} s`);
    }
  }

  /** Runs a count; undefined (fail open, logged) when Valkey does not answer in time. */
  private async guard<T>(run: () => Promise<T>): Promise<T | undefined> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        run(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs).unref();
        }),
      ]);
    } catch (error) {
      if (Date.now() - this.lastWarning > 30_000) {
        this.lastWarning = Date.now();
        this.options.logger.warn({ err: error }, 'rate limits not counted: Valkey did not answer; requests go through uncounted (fail open) until it does');
      }
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Sets RateLimit-* unless a policy closer to running out (or the refusing one) was shown already. */
function show(res: Response, next: Shown, refusing: boolean): void {
  const current = res.locals.rateLimit as Shown | undefined;
  if (!refusing && current && current.remaining / current.limit <= next.remaining / next.limit) return;
  res.locals.rateLimit = next;
  res.setHeader('RateLimit-Limit', String(next.limit));
  res.setHeader('RateLimit-Remaining', String(next.remaining));
  res.setHeader('RateLimit-Reset', String(next.resetS));
}

/**
 * The key an address is counted under: an IPv4 address (an IPv4-mapped IPv6 one as its IPv4),
 * or the /64 an IPv6 address is in (one host usually has a whole /64 to pick from).
 */
export function addressKey(address: string): string {
  if (!ipaddr.isValid(address)) return `other:${address.slice(0, 64)}`;
  const parsed = ipaddr.process(address);
  if (parsed.kind() === 'ipv4') return `v4:${parsed.toString()}`;
  const parts = (parsed as ipaddr.IPv6).parts.slice(0, 4);
  return `v6:${parts.map((p) => p.toString(16)).join(':')}::/64`;
}
