import type { ValkeyClient } from './valkey.js';

/**
 * What the system measured of one provider's portal, from its own batch runs: how fast a session
 * gets through jobs, how long a login takes, and how long sessions lived before the portal ended
 * them. Soft state: kept in Valkey (a wipe only means starting from `BATCH_SIZE` again).
 */
export interface PortalPace {
  provider: string;
  /** Batches measured. */
  batches: number;
  /** A session's time per job with its pages working at once (busy time / jobs), smoothed. */
  sessionMsPerJob?: number;
  /** How long a login took (lease excluded), smoothed. */
  loginMs?: number;
  /** The shortest session lifetime, login to expiry, among the last few expiries seen. */
  sessionLifeMs?: number;
  /** Expiries seen in that window. */
  expiries: number;
  /** The batch size the batcher chose last, and why (batch-sizing.ts). */
  chosenSize?: number;
  chosenBasis?: string;
}

/** Weight of the newest batch in the smoothed figures. */
const SMOOTHING = 0.3;
/** Expiries remembered: the shortest of them counts (a portal's lifetime can shrink). */
const EXPIRIES_KEPT = 5;
/** Measurements nobody renewed for this long are forgotten (the portal may have changed). */
const KEEP_MS = 7 * 86_400_000;

/** The portals' paces in Valkey: one hash per provider, written by batch runs, read by batchers and the API. */
export class PortalPaceStore {
  constructor(
    private readonly redis: ValkeyClient,
    private readonly basePrefix: string,
  ) {}

  private key(provider: string): string {
    return `{${this.basePrefix}-pace}:${provider}`;
  }

  /** A batch ran `jobs` jobs in `busyMs` after a login of `loginMs`. */
  async recordBatch(provider: string, sample: { jobs: number; busyMs: number; loginMs?: number }): Promise<void> {
    if (sample.jobs <= 0) return;
    const key = this.key(provider);
    const [pace, login] = await this.redis.hmget(key, 'session_ms_per_job', 'login_ms');
    const smooth = (old: string | null, value: number) => (old === null ? value : (1 - SMOOTHING) * Number(old) + SMOOTHING * value);
    const fields: Record<string, string> = { session_ms_per_job: smooth(pace, sample.busyMs / sample.jobs).toFixed(1) };
    if (sample.loginMs !== undefined) fields.login_ms = smooth(login, sample.loginMs).toFixed(0);
    await this.redis.multi().hset(key, fields).hincrby(key, 'batches', 1).pexpire(key, KEEP_MS).exec();
  }

  /** A session was found ended by the portal `lifeMs` after its login. */
  async recordExpiry(provider: string, lifeMs: number): Promise<void> {
    const key = this.key(provider);
    const list = `${key}:expiries`;
    await this.redis.multi().lpush(list, String(Math.round(lifeMs))).ltrim(list, 0, EXPIRIES_KEPT - 1).pexpire(list, KEEP_MS).exec();
  }

  /** The batch size chosen for the provider, for operators (`/metrics`, `GET /batches`). */
  async publishChoice(provider: string, choice: { size: number; basis: string }): Promise<void> {
    const key = this.key(provider);
    await this.redis.multi().hset(key, { chosen_size: String(choice.size), chosen_basis: choice.basis }).pexpire(key, KEEP_MS).exec();
  }

  async read(provider: string): Promise<PortalPace> {
    const key = this.key(provider);
    const [hash, expiries] = await Promise.all([this.redis.hgetall(key), this.redis.lrange(`${key}:expiries`, 0, -1)]);
    const number = (v: string | undefined) => (v === undefined || v === '' ? undefined : Number(v));
    const lives = expiries.map(Number).filter((n) => Number.isFinite(n) && n > 0);
    return {
      provider,
      batches: number(hash.batches) ?? 0,
      sessionMsPerJob: number(hash.session_ms_per_job),
      loginMs: number(hash.login_ms),
      sessionLifeMs: lives.length > 0 ? Math.min(...lives) : undefined,
      expiries: lives.length,
      chosenSize: number(hash.chosen_size),
      chosenBasis: hash.chosen_basis,
    };
  }
}
