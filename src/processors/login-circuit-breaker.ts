import type { Redis } from 'iovalkey';
import type { Logger } from '../logger.js';

export interface BreakerState {
  provider: string;
  consecutiveFailures: number;
  /** Epoch ms until which logins are paused; 0 when closed. */
  openUntil: number;
  open: boolean;
}

/** The state of a breaker nobody has tripped (or that is not asked: no Valkey at hand). */
export function closedBreaker(provider: string): BreakerState {
  return { provider, consecutiveFailures: 0, openUntil: 0, open: false };
}

/**
 * Pauses a provider after N login failures in a row (a wrong password must not lock the
 * portal account), for a cool-down, then lets one batch try again. Kept in Valkey so every
 * worker sees the same state.
 */
export class LoginCircuitBreaker {
  constructor(
    private readonly redis: Redis,
    private readonly basePrefix: string,
    private readonly threshold: number,
    private readonly cooldownMs: number,
    private readonly logger: Logger,
  ) {}

  private key(provider: string): string {
    return `{${this.basePrefix}-breaker}:${provider}`;
  }

  async state(provider: string, now = Date.now()): Promise<BreakerState> {
    const [failures, openUntil] = await this.redis.hmget(this.key(provider), 'failures', 'open_until');
    const until = Number(openUntil ?? 0);
    return { provider, consecutiveFailures: Number(failures ?? 0), openUntil: until > now ? until : 0, open: until > now };
  }

  async recordSuccess(provider: string): Promise<void> {
    await this.redis.del(this.key(provider));
  }

  /** Counts a failed login; opens the breaker at the threshold. Returns the new state. */
  async recordFailure(provider: string, reason: string, now = Date.now()): Promise<BreakerState> {
    const key = this.key(provider);
    const failures = await this.redis.hincrby(key, 'failures', 1);
    await this.redis.pexpire(key, Math.max(this.cooldownMs * 10, 3_600_000));
    if (failures >= this.threshold) {
      const openUntil = now + this.cooldownMs;
      await this.redis.hset(key, 'open_until', String(openUntil), 'failures', '0');
      this.logger.error(
        { provider, failures, cooldown_ms: this.cooldownMs, reason },
        `CIRCUIT BREAKER OPEN: ${failures} login failures in a row on ${provider}; its batches are paused until ${new Date(openUntil).toISOString()}`,
      );
      return { provider, consecutiveFailures: failures, openUntil, open: true };
    }
    this.logger.warn({ provider, failures, threshold: this.threshold, reason }, 'login failed');
    return { provider, consecutiveFailures: failures, openUntil: 0, open: false };
  }
}
