import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ValkeyClient } from '../queues/valkey.js';
import { RpaError } from '../errors/failures.js';
import { silentLogger, type Logger } from '../logger.js';
import { TOTP_PERIOD_MS, stepAt, stepStartMs, totpCodeForStep } from './totp-code.js';
import { TotpCounters, type TotpEvent, type TotpStats } from './totp-counters.js';
import { TotpKeys, accountHash } from './totp-keys.js';
import type { TotpLedger } from './totp-ledger.js';

/** The portal's answer to a code, as the login saw it. */
export type TotpOutcome = 'accepted' | 'refused';

export interface TotpManagerOptions {
  /** iovalkey client; the caller owns it (close() does not quit it). */
  redis: ValkeyClient;
  logger?: Logger;
  /** Separates deployments or tests on one Valkey: keys become `{totp}:<prefix>:…`. */
  prefix?: string;
  /** Unix milliseconds. Only for tests of the step logic; waits still take real time. */
  now?: () => number;
  /**
   * Per provider: how many steps before it begins a reserved step's code may be handed out
   * (default 0: only once the step is current). Set it to N only for a portal that accepts
   * the current step ± N *and* remembers each used step on its own: a portal that refuses
   * every step at or below the last accepted one would refuse an earlier step submitted
   * after a later one.
   */
  lookaheadSteps?: Record<string, number>;
  /**
   * A step whose usable time (its end, plus lookahead) is closer than this is not handed out:
   * its code could expire while it is typed. Default 5000 ms.
   */
  minRemainingMs?: number;
  /** How many steps ahead a caller may queue before acquire gives up. Default 20 (10 minutes). */
  maxQueueSteps?: number;
  /** How many steps a reservation outlives its usable time (covers clock skew). Default 1. */
  holdSteps?: number;
  /**
   * The steps handed out, kept where a Valkey wipe cannot lose them (Postgres). Every process
   * that hands out codes for logins has one; without it (stats only) nothing is handed out twice
   * only as long as Valkey keeps its keys.
   */
  ledger?: TotpLedger;
}

export interface TotpAcquireRequest {
  provider: string;
  /** The portal login (username or e-mail); only its hash reaches Valkey and logs. */
  account: string;
  /** Base32 TOTP secret; used to compute the code, never stored, logged or put in errors. */
  secret: string;
  /** Aborting releases the reserved step (when its code was not handed out yet). */
  signal?: AbortSignal;
  /**
   * How long the caller needs from now before it types the code (a login's password step):
   * the current step is not reserved when less than `minRemainingMs` of it would be left by then.
   */
  leadMs?: number;
}

/** One time step reserved for one login, with its code. */
export interface TotpLease {
  readonly provider: string;
  /** RFC 6238 time step (Unix seconds / 30) the code belongs to. */
  readonly step: number;
  readonly code: string;
  /** Records the portal's answer. Idempotent: only the first call counts. */
  report(outcome: TotpOutcome): Promise<void>;
}

/**
 * A time step held for one login whose code has not been computed yet. Take it (or release
 * it) exactly once; an untouched reservation expires with its TTL a step after its use.
 */
export interface TotpReservation {
  readonly provider: string;
  /** The reserved step (take() moves to a later one only if this one expired unused). */
  readonly step: number;
  /** Unix ms from which the step's code may be handed out (its start minus the lookahead). */
  readonly usableAt: number;
  /** Resolves `leadMs` before usableAt (at once if that has passed); aborting releases the step. */
  ready(leadMs?: number): Promise<void>;
  /** Waits until the step may be used, then computes its code and hands it out. */
  take(): Promise<TotpLease>;
  /** Gives the step back for others if its code was not computed. Idempotent. */
  release(): Promise<void>;
}

/**
 * Reserves the first free step among KEYS (consecutive steps, earliest first) with SET NX.
 * One script call per caller makes the choice atomic, so callers are served strictly in the
 * order their calls reach Valkey. All KEYS share the `{totp}` hash tag (one cluster slot).
 * ARGV: token, TTL of KEYS[1] in ms, step length in ms. Returns the index taken, or -1.
 */
const RESERVE_SCRIPT = `
local ttl = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
for i = 1, #KEYS do
  if redis.call('SET', KEYS[i], ARGV[1], 'NX', 'PX', ttl + (i - 1) * period) then
    return i - 1
  end
end
return -1
`;

/** Deletes a reservation only if it is still ours. */
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

const MAX_STALE_RETRIES = 3;

/**
 * Hands out TOTP codes just in time, one time step per login per provider account,
 * cluster-wide. Each login reserves the earliest free step in Valkey (atomic SET NX, first
 * come first served), waits until that step begins, and only then computes its code; no
 * code is ever computed ahead and carried in a queue. Counts codes generated, consumed,
 * accepted and refused per provider per UTC day.
 */
export class TotpManager {
  private readonly redis: ValkeyClient;
  private readonly logger: Logger;
  private readonly keys: TotpKeys;
  private readonly counters: TotpCounters;
  private readonly now: () => number;
  private readonly lookaheadSteps: Record<string, number>;
  private readonly minRemainingMs: number;
  private readonly maxQueueSteps: number;
  private readonly holdSteps: number;
  private readonly ledger?: TotpLedger;
  private readonly closing = new AbortController();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly open = new Set<TotpReservation>();

  constructor(options: TotpManagerOptions) {
    this.redis = options.redis;
    this.logger = (options.logger ?? silentLogger).child({ component: 'totp-manager' });
    this.keys = new TotpKeys(options.prefix);
    this.now = options.now ?? Date.now;
    this.counters = new TotpCounters({ redis: this.redis, keys: this.keys, now: this.now });
    this.lookaheadSteps = { ...options.lookaheadSteps };
    for (const [provider, steps] of Object.entries(this.lookaheadSteps)) {
      if (!Number.isInteger(steps) || steps < 0 || steps > 10) {
        throw new RpaError('CONFIG_INVALID', `lookaheadSteps.${provider} must be an integer from 0 to 10`, { field: 'lookaheadSteps' });
      }
    }
    this.minRemainingMs = options.minRemainingMs ?? 5_000;
    this.maxQueueSteps = options.maxQueueSteps ?? 20;
    this.holdSteps = options.holdSteps ?? 1;
    this.ledger = options.ledger;
    if (!(this.minRemainingMs >= 0 && this.minRemainingMs < TOTP_PERIOD_MS)) {
      throw new RpaError('CONFIG_INVALID', 'minRemainingMs must be from 0 to below one step (30000)', { field: 'minRemainingMs' });
    }
    if (!Number.isInteger(this.maxQueueSteps) || this.maxQueueSteps < 1 || this.maxQueueSteps > 200) {
      throw new RpaError('CONFIG_INVALID', 'maxQueueSteps must be an integer from 1 to 200', { field: 'maxQueueSteps' });
    }
    if (!Number.isInteger(this.holdSteps) || this.holdSteps < 0) {
      throw new RpaError('CONFIG_INVALID', 'holdSteps must be a non-negative integer', { field: 'holdSteps' });
    }
  }

  /**
   * Reserves the earliest free time step for this provider account, waits until the step
   * may be used, and returns its code. Concurrent callers (in any process sharing the
   * Valkey) get distinct steps in arrival order. Rejects with TOTP_STEP_TAKEN
   * when more than `maxQueueSteps` steps are already taken, with the signal's reason when
   * aborted, and with SERVICE_UNAVAILABLE when the manager is closed meanwhile.
   */
  acquire(request: TotpAcquireRequest): Promise<TotpLease> {
    return this.track(this.reserve(request).then((reservation) => reservation.take()));
  }

  /**
   * The first half of acquire: reserves the earliest free step now (same order and errors)
   * and leaves waiting and computing the code to `take()`. Lets a login queue for its step
   * before it starts, and start only shortly before the step (see TotpHooks.prepare).
   */
  reserve(request: TotpAcquireRequest): Promise<TotpReservation> {
    // Everything up to the reservation script runs synchronously, so calls reach Valkey in
    // the order they were made.
    let promise: Promise<TotpReservation>;
    try {
      promise = this.reserveInOrder(request);
    } catch (thrown) {
      promise = Promise.reject(thrown);
    }
    return this.track(promise);
  }

  /** Counters of `day` (YYYY-MM-DD, default today UTC) by provider. */
  stats(day?: string): Promise<TotpStats> {
    return this.counters.read(day);
  }

  /**
   * Stops handing out codes: pending acquires reject with SERVICE_UNAVAILABLE, and every
   * step reserved but not handed out is released. Leaves the Valkey client open (the
   * caller owns it).
   */
  async close(): Promise<void> {
    if (!this.closing.signal.aborted) {
      this.closing.abort(new RpaError('SERVICE_UNAVAILABLE', 'TOTP manager closed'));
    }
    await Promise.allSettled([...this.pending]);
    await Promise.allSettled([...this.open].map((reservation) => reservation.release()));
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.pending.add(promise);
    const forget = () => this.pending.delete(promise);
    promise.then(forget, forget);
    return promise;
  }

  private reserveInOrder(request: TotpAcquireRequest): Promise<TotpReservation> {
    const { provider, account, secret } = request;
    if (!provider || !account) {
      throw new RpaError('VALIDATION_FAILED', 'TOTP acquire needs a provider and an account', { field: provider ? 'account' : 'provider' });
    }
    if (this.closing.signal.aborted) throw this.closing.signal.reason;
    request.signal?.throwIfAborted();
    // Fails on a bad secret before a step is spent on it.
    totpCodeForStep(secret, 0);
    const signal = request.signal ? AbortSignal.any([request.signal, this.closing.signal]) : this.closing.signal;
    const log = this.logger.child({ provider, account_hash: accountHash(provider, account) });
    return this.reserveStep(provider, account, log, request.leadMs ?? 0).then((step) => this.reservation(request, signal, log, step));
  }

  private reservation(request: TotpAcquireRequest, signal: AbortSignal, log: Logger, first: ReservedStep): TotpReservation {
    const { provider, account, secret } = request;
    const lookahead = this.lookaheadSteps[provider] ?? 0;
    let current = first;
    let state: 'reserved' | 'taking' | 'done' = 'reserved';
    let released: Promise<void> | undefined;
    // Ends a take() or ready() still waiting when the step is released under it.
    const own = new AbortController();
    const waitSignal = AbortSignal.any([signal, own.signal]);

    const release = (): Promise<void> => {
      if (state === 'done') return released ?? Promise.resolve();
      state = 'done';
      this.open.delete(reservation);
      own.abort(new RpaError('INTERNAL', 'this TOTP reservation was released while waiting for its step'));
      released = this.releaseStep(current, log);
      return released;
    };

    const waitFor = async (targetMs: number): Promise<void> => {
      try {
        await this.waitUntil(targetMs, waitSignal);
      } catch (thrown) {
        await release();
        throw thrown;
      }
    };

    const take = async (): Promise<TotpLease> => {
      if (state !== 'reserved') throw new RpaError('INTERNAL', 'this TOTP reservation was already taken or released');
      state = 'taking';
      for (let attempt = 1; ; attempt++) {
        const { step } = current;
        await waitFor(stepStartMs(step - lookahead));
        // A step is spent from here on, used or not: it is never released.
        state = 'done';
        this.open.delete(reservation);
        // The event loop may have been blocked (or the caller slow to take the step) until
        // too little of the step is left: its code could expire while it is typed, so a
        // fresh step is reserved instead.
        const fresh = this.now() < stepStartMs(step + 1 + lookahead) - this.minRemainingMs;
        // The ledger has the last word: a step Valkey forgot it handed out (wiped, restarted) is not
        // handed out again, nor one below a later step another login took first (its high-water mark).
        const unused = fresh && (!this.ledger || (await this.ledger.claim(provider, accountHash(provider, account), step)));
        if (fresh && !unused) log.warn({ step }, 'TOTP step is at or below the last one handed out (a later step was taken first, or Valkey lost its reservation); reserving another');
        if (unused) {
          const code = totpCodeForStep(secret, step);
          await this.count(provider, 'generated', log);
          if (signal.aborted) throw signal.reason;
          await this.count(provider, 'consumed', log);
          log.info({ step }, 'TOTP code handed out');
          return new Lease(provider, step, code, (outcome) => this.count(provider, outcome, log));
        }
        if (signal.aborted) throw signal.reason;
        if (attempt >= MAX_STALE_RETRIES) {
          throw new RpaError('TOTP_STEP_TAKEN', `TOTP step expired before its code could be handed out (${attempt} times)`);
        }
        if (!fresh) log.warn({ step }, 'TOTP step expired before its code was handed out; reserving another');
        current = await this.reserveStep(provider, account, log);
        state = 'taking';
        this.open.add(reservation);
      }
    };

    const reservation: TotpReservation = {
      provider,
      get step() {
        return current.step;
      },
      get usableAt() {
        return stepStartMs(current.step - lookahead);
      },
      ready: async (leadMs = 0) => {
        if (state === 'done') throw new RpaError('INTERNAL', 'this TOTP reservation was already taken or released');
        await waitFor(stepStartMs(current.step - lookahead) - leadMs);
      },
      take,
      release,
    };
    this.open.add(reservation);
    if (signal.aborted) {
      // Aborted (or closed) while the script ran: nobody will take this step.
      void release();
      throw signal.reason;
    }
    return reservation;
  }

  /** Atomically takes the earliest free step from the first usable one on (`leadMs` from now). */
  private async reserveStep(provider: string, accountName: string, log: Logger, leadMs = 0): Promise<ReservedStep> {
    const lookahead = this.lookaheadSteps[provider] ?? 0;
    const last = this.ledger ? await this.ledger.lastStep(provider, accountHash(provider, accountName)) : undefined;
    const now = this.now();
    const current = stepAt(now);
    // A step stays usable until the end of step + lookahead (the portal's window); one the
    // ledger says was handed out is never offered again.
    const usable = stepStartMs(current + 1 + lookahead) - (now + leadMs) >= this.minRemainingMs ? current : current + 1;
    const first = last === undefined ? usable : Math.max(usable, last + 1);
    const keys: string[] = [];
    for (let i = 0; i < this.maxQueueSteps; i++) keys.push(this.keys.step(provider, accountName, first + i));
    const ttlMs = stepStartMs(first + 1 + lookahead + this.holdSteps) - now;
    const token = randomUUID();
    const index = Number(await this.redis.eval(RESERVE_SCRIPT, keys.length, ...keys, token, ttlMs, TOTP_PERIOD_MS));
    if (index < 0) {
      throw new RpaError('TOTP_STEP_TAKEN', `all ${this.maxQueueSteps} upcoming TOTP steps of this ${provider} account are taken`);
    }
    const step = first + index;
    log.debug({ step, wait_ms: Math.max(0, stepStartMs(step - lookahead) - this.now()) }, 'TOTP step reserved');
    return { step, key: keys[index]!, token };
  }

  private async releaseStep(reserved: ReservedStep, log: Logger): Promise<void> {
    try {
      await this.redis.eval(RELEASE_SCRIPT, 1, reserved.key, reserved.token);
      log.debug({ step: reserved.step }, 'TOTP step released unused');
    } catch (thrown) {
      // The reservation then simply expires with its TTL.
      log.warn({ step: reserved.step, err: thrown }, 'releasing an unused TOTP step failed');
    }
  }

  private async waitUntil(targetMs: number, signal: AbortSignal): Promise<void> {
    for (;;) {
      signal.throwIfAborted();
      const remaining = targetMs - this.now();
      if (remaining <= 0) return;
      try {
        await sleep(Math.min(remaining, 2 ** 31 - 1), undefined, { signal, ref: false });
      } catch (thrown) {
        if (signal.aborted) throw signal.reason;
        throw thrown;
      }
    }
  }

  /** Counters are metrics: a Valkey hiccup there must not fail a login that has its code. */
  private async count(provider: string, event: TotpEvent, log: Logger): Promise<void> {
    try {
      await this.counters.record(provider, event);
    } catch (thrown) {
      log.warn({ event, err: thrown }, 'recording a TOTP counter failed');
    }
  }
}

interface ReservedStep {
  step: number;
  key: string;
  token: string;
}

class Lease implements TotpLease {
  private reported?: Promise<void>;

  constructor(
    readonly provider: string,
    readonly step: number,
    readonly code: string,
    private readonly record: (outcome: TotpOutcome) => Promise<void>,
  ) {}

  report(outcome: TotpOutcome): Promise<void> {
    if (outcome !== 'accepted' && outcome !== 'refused') {
      return Promise.reject(new RpaError('VALIDATION_FAILED', `TOTP outcome must be accepted or refused, got "${String(outcome)}"`, { field: 'outcome' }));
    }
    this.reported ??= this.record(outcome);
    return this.reported;
  }

  /** Keeps the code out of anything that serialises the lease (log lines above all). */
  toJSON(): Record<string, unknown> {
    return { provider: this.provider, step: this.step };
  }
}
