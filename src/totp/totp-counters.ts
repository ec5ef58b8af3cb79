import type { ValkeyClient } from '../queues/valkey.js';
import { RpaError } from '../errors/failures.js';
import type { TotpKeys } from './totp-keys.js';

/**
 * What happened to TOTP codes: `generated` (computed for a reserved step), `consumed`
 * (handed to a login), `accepted` / `refused` (the portal's answer, as reported by the login).
 * Codes are computed only at hand-out, so `generated` exceeds `consumed` only by logins
 * aborted in between; `consumed` above `accepted + refused` means logins that never said.
 */
export type TotpEvent = 'generated' | 'consumed' | 'accepted' | 'refused';

export const TOTP_EVENTS: readonly TotpEvent[] = ['generated', 'consumed', 'accepted', 'refused'];

export type TotpProviderCounts = Record<TotpEvent, number>;

/** Counters of one day, by provider. Providers without any event that day are absent. */
export type TotpStats = Record<string, TotpProviderCounts>;

const DAY_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

/** The UTC day (YYYY-MM-DD) containing `ms`. Counters are kept per UTC day. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * Per-provider, per-day TOTP counters in one Valkey hash per day (`HINCRBY`), shared by
 * every process using the same Valkey and prefix. Each day's hash expires after
 * `retentionDays` so the counters never grow without bound.
 */
export class TotpCounters {
  private readonly redis: ValkeyClient;
  private readonly keys: TotpKeys;
  private readonly now: () => number;
  private readonly retentionSeconds: number;

  constructor(options: { redis: ValkeyClient; keys: TotpKeys; now?: () => number; retentionDays?: number }) {
    this.redis = options.redis;
    this.keys = options.keys;
    this.now = options.now ?? Date.now;
    this.retentionSeconds = Math.round((options.retentionDays ?? 40) * 86_400);
  }

  /** Adds one `event` for `provider` to today's (UTC) counters. */
  async record(provider: string, event: TotpEvent): Promise<void> {
    const key = this.keys.counters(utcDay(this.now()));
    const results = await this.redis
      .multi()
      .hincrby(key, `${provider}:${event}`, 1)
      .expire(key, this.retentionSeconds)
      .exec();
    const failed = results?.find(([error]) => error);
    if (!results || failed) {
      throw new RpaError('SERVICE_UNAVAILABLE', 'recording a TOTP counter failed', { cause: failed?.[0] });
    }
  }

  /** Counters of `day` (YYYY-MM-DD, default today UTC) by provider. */
  async read(day?: string): Promise<TotpStats> {
    const wanted = day ?? utcDay(this.now());
    if (!DAY_PATTERN.test(wanted)) {
      throw new RpaError('VALIDATION_FAILED', `day must be YYYY-MM-DD, got "${wanted}"`, { field: 'day' });
    }
    const fields = await this.redis.hgetall(this.keys.counters(wanted));
    const stats: TotpStats = {};
    for (const [field, value] of Object.entries(fields)) {
      const split = field.lastIndexOf(':');
      const provider = field.slice(0, split);
      const event = field.slice(split + 1) as TotpEvent;
      if (split <= 0 || !TOTP_EVENTS.includes(event)) continue;
      stats[provider] ??= { generated: 0, consumed: 0, accepted: 0, refused: 0 };
      stats[provider][event] = Number(value);
    }
    return stats;
  }
}
