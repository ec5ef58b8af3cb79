import { once } from 'node:events';
import type { ValkeyClient } from '../../queues/valkey.js';
import { coerceError } from '../../errors/coerce-error.js';
import type { Logger } from '../../logger.js';
import { browserKeyTag, type PoolDirectory } from '../client/pool-directory.js';
import type { PoolToken } from '../client/pool-token.js';
import { withTimeout } from '../../infra/with-timeout.js';
import { FleetManager, type FleetManagerOptions } from './fleet-manager.js';
import { LeaderElection } from './leader-election.js';
import type { WarmSchedule } from './warm-schedule.js';

export interface FleetOptions {
  /** Where the pools run: local processes or pods (for /health). */
  mode: string;
  /** A fail-fast Valkey connection: the election, the directory and the leader's status. */
  redis: ValkeyClient;
  /** QUEUE_PREFIX: one fleet per installation and pool token. */
  prefix: string;
  /** The pool token of this fleet's pools (BROWSER_POOL_TOKEN, or one generated for this worker alone). */
  token: PoolToken;
  directory: PoolDirectory;
  /** This worker's name in the election and the directory: its pod, or host and pid. */
  memberId: string;
  /** The leader's manager: policy, backend, ready timeout … (directory, token and fence are the fleet's). */
  manager: Omit<FleetManagerOptions, 'directory' | 'token' | 'leadership' | 'registeredBy' | 'logger'>;
  /** Jobs that will want a browser soon (queuedBrowserDemand). */
  demand: () => Promise<number>;
  /** Pools to keep with nothing queued (business hours, schedules about to run). */
  warm: WarmSchedule;
  logger: Logger;
  /** How often the leader decides and refreshes the directory (default 5 s). */
  intervalMs?: number;
  /** Lifetime of the leader's lock without renewal (default 15 s): how soon another worker takes over. */
  leaderTtlMs?: number;
  now?: () => Date;
}

/** The last round of the leader, as every member can read it (no URL, no token). */
export interface FleetRound {
  leader: string;
  term: number;
  ok: boolean;
  at: string;
  desired?: number;
  pools?: number;
  warm?: number;
  queued?: number;
  error?: string;
}

export interface FleetHealth {
  mode: FleetOptions['mode'];
  role: 'leader' | 'follower';
  leader: string | null;
  term: number | null;
  /** Pools in the directory this worker's batches can lease from. */
  pools: number;
  last_round: FleetRound | null;
}

/**
 * A worker's part in the fleet, the set of pools an installation runs. Every worker without a
 * pool of its own takes part in one election (leader-election.ts): the leader alone decides how
 * many pools run, from the cluster-wide queue depth and the warm schedule, starts and stops them
 * (FleetManager on the backend of BROWSER_MANAGER_MODE) and registers them in the pool directory;
 * the others follow: their batches lease from the pools in the directory like the leader's do.
 * When the leader stops (or dies, and its lock runs out), another worker takes over.
 */
export class Fleet {
  readonly election: LeaderElection;
  readonly manager: FleetManager;
  private readonly log: Logger;
  private readonly statusKey: string;
  private readonly intervalMs: number;
  private readonly now: () => Date;
  private timer?: NodeJS.Timeout;
  private round?: Promise<void>;
  private leading = false;
  private last?: FleetRound;
  private closing?: Promise<void>;
  /** Serialises taking over and handing back (both stop or start pools). */
  private transition: Promise<void> = Promise.resolve();

  constructor(private readonly o: FleetOptions) {
    this.log = o.logger.child({ component: 'fleet', member: o.memberId });
    this.intervalMs = o.intervalMs ?? 5_000;
    this.now = o.now ?? (() => new Date());
    const key = `${browserKeyTag(o.prefix)}:fleet:${o.token.id}`;
    this.statusKey = `${key}:round`;
    this.election = new LeaderElection({
      redis: o.redis,
      key: `${key}:leader`,
      memberId: o.memberId,
      ttlMs: o.leaderTtlMs ?? 15_000,
      logger: o.logger,
      onElected: (term) => this.changeRole(() => this.lead(term)),
      onDemoted: (why) => this.changeRole(() => this.follow(why)),
    });
    this.manager = new FleetManager({
      ...o.manager,
      directory: o.directory,
      token: o.token,
      leadership: this.election,
      registeredBy: o.memberId,
      registrationTtlMs: this.intervalMs * 4,
      logger: o.logger,
    });
  }

  /** Joins the election (one attempt before it resolves); the leader starts its first round at once. */
  async start(): Promise<void> {
    // A fail-fast connection refuses commands until it is up: give it a moment to connect first.
    if (this.o.redis.status !== 'ready') await once(this.o.redis, 'ready', { signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
    await this.election.start();
    await this.transition;
  }

  /** True while this worker decides. */
  isLeader(): boolean {
    return this.leading;
  }

  /** /health's section: who leads, the last round, how many pools the batches can use. */
  async health(): Promise<FleetHealth> {
    const [leader, round, pools] = await Promise.all([
      this.election.leader().catch(() => undefined),
      this.readRound(),
      this.usablePools().catch(() => 0),
    ]);
    return {
      mode: this.o.mode,
      role: this.leading ? 'leader' : 'follower',
      leader: leader?.memberId ?? null,
      term: leader?.term ?? null,
      pools,
      last_round: round ?? null,
    };
  }

  /**
   * Whether this worker can get browsers: a pool it can lease from is in the directory, or the
   * fleet's leader (this worker, or another) finished its last round without a failure, so it
   * starts pools when work comes.
   */
  async ready(): Promise<{ ok: boolean; error?: string }> {
    if ((await this.usablePools().catch(() => 0)) > 0) return { ok: true };
    const round = await this.readRound();
    if (!round) return { ok: false, error: 'no fleet leader has reported yet' };
    return round.ok ? { ok: true } : { ok: false, error: round.error ?? 'the fleet leader could not start pools' };
  }

  /** Stops deciding, stops this worker's pools, gives the lock up. Every step runs even when one fails. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopRounds();
      await this.round;
      // Pools first, then the lock: the next leader starts from a fleet with none of ours left.
      await this.manager.close();
      const wasLeading = this.leading;
      await this.election.close().catch((err: unknown) => this.log.warn({ err: coerceError(err).toJSON() }, 'leaving the fleet election failed'));
      await this.transition;
      if (wasLeading) await this.o.redis.del(this.statusKey).catch(() => undefined);
    })();
    return this.closing;
  }

  private changeRole(step: () => Promise<void>): void {
    this.transition = this.transition.then(step).catch((err: unknown) => this.log.error({ err: coerceError(err).toJSON() }, 'changing the fleet role failed'));
  }

  private async lead(term: number): Promise<void> {
    if (this.closing) return;
    this.leading = true;
    try {
      await this.manager.start();
    } catch (err) {
      // Not fatal: the rounds start what is needed; leftovers are retried on the next take-over.
      this.log.error({ err: coerceError(err).toJSON() }, 'cleaning up pools of an earlier leader failed');
    }
    if (!this.leading || this.closing) return;
    this.log.info({ term }, 'leading the fleet');
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
    await this.tick();
  }

  private async follow(why: string): Promise<void> {
    const was = this.leading;
    this.leading = false;
    this.stopRounds();
    await this.round;
    if (!was) return;
    // Another worker decides now: this one's pools go (its directory entries first).
    await this.manager.stopAll(`no longer the fleet leader (${why})`);
  }

  private stopRounds(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): Promise<void> {
    this.round ??= this.leaderRound().finally(() => {
      this.round = undefined;
    });
    return this.round;
  }

  /** One decision of the leader: demand and warm minimum → pools started and stopped → directory refreshed. */
  private async leaderRound(): Promise<void> {
    if (!this.leading || this.closing) return;
    const term = this.election.term();
    if (term === undefined) return;
    const base = { leader: this.o.memberId, term };
    try {
      const now = this.now();
      const [queued, warm] = await Promise.all([this.o.demand(), this.o.warm.minimum(now)]);
      const decision = await this.manager.decide({ queuedJobs: queued, warmMinimum: warm.pools });
      if (decision.created.length > 0 || decision.removed.length > 0) {
        this.log.info(
          { desired: decision.desired, created: decision.created, removed: decision.removed, queued, warm: warm.pools, business_hours: warm.businessHours, schedules: warm.schedules },
          'fleet scaled',
        );
      }
      void decision.started.then((failed) => {
        // A pool that could not start for good (the API refused: RBAC, a bad spec) makes the fleet unready.
        const final = failed.find((f) => !f.error.retryable);
        if (final && this.leading) void this.report({ ...base, ok: false, at: this.now().toISOString(), error: `${final.error.code}: ${final.error.message}` });
      });
      await this.manager.refresh();
      await this.report({ ...base, ok: true, at: now.toISOString(), desired: decision.desired, pools: this.manager.snapshot().length, warm: warm.pools, queued });
    } catch (err) {
      const error = coerceError(err);
      this.log.warn({ err: error.toJSON() }, 'fleet round failed; will retry');
      await this.report({ ...base, ok: false, at: this.now().toISOString(), error: `${error.code}: ${error.message}` });
    }
  }

  private async report(round: FleetRound): Promise<void> {
    this.last = round;
    await withTimeout(this.o.redis.set(this.statusKey, JSON.stringify(round), 'PX', this.intervalMs * 4), 2_000, () => new Error('no answer')).catch(() => undefined);
  }

  private async readRound(): Promise<FleetRound | undefined> {
    if (this.leading && this.last) return this.last;
    try {
      const text = await withTimeout(this.o.redis.get(this.statusKey), 2_000, () => new Error('no answer'));
      return text ? (JSON.parse(text) as FleetRound) : undefined;
    } catch {
      return undefined;
    }
  }

  private async usablePools(): Promise<number> {
    const entries = await withTimeout(this.o.directory.list(), 2_000, () => new Error('no answer'));
    return entries.filter((e) => e.tokenId === this.o.token.id).length;
  }
}
