import type { ValkeyClient } from '../../queues/valkey.js';
import { coerceError } from '../../errors/coerce-error.js';
import type { Logger } from '../../logger.js';
import type { Fence } from '../client/pool-directory.js';
import { withTimeout } from '../../infra/with-timeout.js';

export interface LeaderElectionOptions {
  /** A fail-fast connection (no offline queue): a renewal must fail, not wait, while Valkey is away. */
  redis: ValkeyClient;
  /** The lock's key; `<key>:term` counts the terms (the fencing tokens). */
  key: string;
  /** This member's name (its pod, or host and pid): shown to the others, never secret. */
  memberId: string;
  /** How long the lock lasts without a renewal; the leader renews every third of it. */
  ttlMs: number;
  logger: Logger;
  /** Called (not awaited by the election) when this member becomes leader for `term`. */
  onElected: (term: number) => void;
  /** Called (not awaited) when it stops leading: lock lost, not renewed in time, or closing. */
  onDemoted: (why: string) => void;
}

export interface Leadership {
  memberId: string;
  term: number;
}

/** Takes the lock if nobody holds it, with the next term as its fencing token. */
const ACQUIRE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local term = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. term, 'PX', ARGV[2])
return term
`;
/** Extends the lock while it still holds this member's value. */
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;
/** Gives the lock up while it still holds this member's value. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/**
 * Who decides how many pools the fleet runs: one Valkey lock with a TTL, taken with SET-if-absent,
 * renewed by its holder every third of the TTL and given up on close. Each taking increments a
 * term counter; the lock's value names the member and its term, the fencing token. Writes that
 * only the leader may make (pool registrations in the directory) are fenced on that value, so a
 * leader that was paused past its TTL and does not know it yet cannot write any more.
 *
 * Valkey, not a Kubernetes Lease: the workers already share Valkey (TOTP steps are leased the
 * same way), the same code serves local mode (no cluster), and the workers' Role stays at pods.
 */
export class LeaderElection {
  private readonly termKey: string;
  private value?: string;
  private currentTerm?: number;
  private renewedAt = 0;
  private timer?: NodeJS.Timeout;
  private round?: Promise<void>;
  private closed = false;
  private readonly log: Logger;

  constructor(private readonly o: LeaderElectionOptions) {
    this.termKey = `${o.key}:term`;
    this.log = o.logger.child({ component: 'leader-election', member: o.memberId });
  }

  /** Tries once now (resolves when that try is done), then every third of the TTL. */
  async start(): Promise<void> {
    await this.tick();
    if (this.closed) return;
    this.timer = setInterval(() => void this.tick(), Math.max(100, Math.floor(this.o.ttlMs / 3)));
    this.timer.unref();
  }

  /** True while this member holds the lock as far as it knows (renewed within the TTL). */
  isLeader(): boolean {
    return this.value !== undefined && Date.now() - this.renewedAt < this.o.ttlMs;
  }

  /** The term this member leads in, while it leads. */
  term(): number | undefined {
    return this.isLeader() ? this.currentTerm : undefined;
  }

  /** The fence of this member's writes while it leads. */
  fence(): Fence | undefined {
    return this.isLeader() && this.value ? { key: this.o.key, value: this.value } : undefined;
  }

  /** Asks Valkey whether the lock still holds this member's value (before a decision that costs). */
  async stillLeading(): Promise<boolean> {
    if (!this.value) return false;
    return (await this.o.redis.get(this.o.key)) === this.value;
  }

  /** Who leads now, as Valkey says; undefined when nobody does. */
  async leader(): Promise<Leadership | undefined> {
    const value = await this.o.redis.get(this.o.key);
    if (!value) return undefined;
    const at = value.lastIndexOf(' ');
    return { memberId: value.slice(0, at), term: Number(value.slice(at + 1)) };
  }

  /** Stops trying; gives the lock up if held, so another member takes over at once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.round;
    const value = this.value;
    if (value) {
      this.demote('closing');
      await withTimeout(this.o.redis.eval(RELEASE, 1, this.o.key, value), 5_000, () => new Error('release timed out')).catch((err: unknown) =>
        this.log.warn({ err: coerceError(err).toJSON() }, 'could not give the fleet lock up; it expires by itself'),
      );
    }
  }

  /** One attempt, never two at once: renew when leading, else try to take the lock. */
  private tick(): Promise<void> {
    this.round ??= this.attempt().finally(() => {
      this.round = undefined;
    });
    return this.round;
  }

  private async attempt(): Promise<void> {
    if (this.closed) return;
    const timeoutMs = Math.max(100, Math.floor(this.o.ttlMs / 3));
    const timedOut = () => new Error(`Valkey did not answer within ${timeoutMs} ms`);
    if (this.value) {
      try {
        // Counted from before the call: Valkey's TTL starts no earlier than that.
        const sentAt = Date.now();
        const renewed = await withTimeout(this.o.redis.eval(RENEW, 1, this.o.key, this.value, String(this.o.ttlMs)), timeoutMs, timedOut);
        if (renewed === 1) {
          this.renewedAt = sentAt;
          return;
        }
        this.demote('the lock is held by another member');
      } catch (err) {
        // Valkey away: the lock may still be ours, but only until its TTL runs out.
        if (!this.isLeader()) this.demote('the lock could not be renewed in time');
        else this.log.warn({ err: coerceError(err).toJSON() }, 'renewing the fleet lock failed; will retry');
      }
      return;
    }
    try {
      const startedAt = Date.now();
      const term = Number(await withTimeout(this.o.redis.eval(ACQUIRE, 2, this.o.key, this.termKey, this.o.memberId, String(this.o.ttlMs)), timeoutMs, timedOut));
      if (term > 0 && !this.closed) {
        this.value = `${this.o.memberId} ${term}`;
        this.currentTerm = term;
        this.renewedAt = startedAt;
        this.log.info({ term }, 'this worker now decides how many browser pools run');
        this.o.onElected(term);
      }
    } catch (err) {
      this.log.warn({ err: coerceError(err).toJSON() }, 'could not reach Valkey to take part in the fleet election');
    }
  }

  private demote(why: string): void {
    if (!this.value) return;
    const term = this.currentTerm;
    this.value = undefined;
    this.currentTerm = undefined;
    this.log.warn({ term, why }, 'this worker no longer decides how many browser pools run');
    this.o.onDemoted(why);
  }
}
