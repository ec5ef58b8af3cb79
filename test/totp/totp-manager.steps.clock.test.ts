import { expect } from 'chai';
import type { Redis } from 'iovalkey';
import { generate, generateSecret, verify } from 'otplib';
import { isRpaError } from '../../src/errors/failures.js';
import { TOTP_PERIOD_MS, stepAt, stepStartMs } from '../../src/totp/totp-code.js';
import { TotpKeys } from '../../src/totp/totp-keys.js';
import { TotpManager, type TotpLease } from '../../src/totp/totp-manager.js';
import { testLogger, uniquePrefix } from '../support/shared-services.js';
import { adjustableClock, connectSharedValkey, shiftedClock } from './totp-test-support.js';

const account = 'rpa.octotel';

/** What otplib itself says the code of `step` is (independent of the manager's wrapper). */
function otplibCode(secret: string, step: number): Promise<string> {
  return generate({ secret, epoch: (step * TOTP_PERIOD_MS) / 1000 });
}

describe('TotpManager steps', () => {
  let redis: Redis;
  let prefix: string;
  const managers: TotpManager[] = [];

  function manager(options: Partial<ConstructorParameters<typeof TotpManager>[0]> = {}): TotpManager {
    const created = new TotpManager({ redis, prefix, logger: testLogger, ...options });
    managers.push(created);
    return created;
  }

  beforeEach(async () => {
    redis = await connectSharedValkey();
    prefix = uniquePrefix('totp');
  });

  afterEach(async () => {
    await Promise.all(managers.splice(0).map((m) => m.close()));
    redis.disconnect();
  });

  it('hands out the code otplib computes for the current step, valid right now', async () => {
    const secret = generateSecret();
    const now = shiftedClock(10_000);
    const lease = await manager({ now }).acquire({ provider: 'octotel', account, secret });
    const handedAt = now();
    expect(lease.step).to.equal(stepAt(handedAt));
    expect(lease.code).to.match(/^\d{6}$/);
    expect(lease.code).to.equal(await otplibCode(secret, lease.step));
    const check = await verify({ secret, token: lease.code, epoch: handedAt / 1000 });
    expect(check.valid).to.equal(true);
  });

  it('gives N concurrent acquires in one process N distinct consecutive steps, in call order', async () => {
    const secret = generateSecret();
    const now = shiftedClock(10_000);
    // A lookahead as long as the queue makes every step usable at once: no 30 s waits.
    const m = manager({ now, lookaheadSteps: { octotel: 7 } });
    const current = stepAt(now());
    const leases = await Promise.all(Array.from({ length: 8 }, () => m.acquire({ provider: 'octotel', account, secret })));
    expect(leases.map((l) => l.step)).to.deep.equal(Array.from({ length: 8 }, (_, i) => current + i));
    for (const lease of leases) expect(lease.code).to.equal(await otplibCode(secret, lease.step));
  });

  it('gives concurrent acquires through two managers on two connections distinct consecutive steps', async () => {
    const secret = generateSecret();
    const now = shiftedClock(10_000);
    const other = await connectSharedValkey();
    try {
      const first = manager({ now, lookaheadSteps: { octotel: 9 } });
      const second = manager({ redis: other, now, lookaheadSteps: { octotel: 9 } });
      const current = stepAt(now());
      const calls: Array<Promise<TotpLease>> = [];
      for (let i = 0; i < 5; i++) {
        calls.push(first.acquire({ provider: 'octotel', account, secret }));
        calls.push(second.acquire({ provider: 'octotel', account, secret }));
      }
      const steps = (await Promise.all(calls)).map((l) => l.step).sort((a, b) => a - b);
      expect(steps).to.deep.equal(Array.from({ length: 10 }, (_, i) => current + i));
    } finally {
      other.disconnect();
    }
  });

  it('keeps accounts and providers apart: each has its own steps', async () => {
    const secret = generateSecret();
    const now = shiftedClock(10_000);
    const m = manager({ now });
    const current = stepAt(now());
    const leases = await Promise.all([
      m.acquire({ provider: 'octotel', account: 'one', secret }),
      m.acquire({ provider: 'octotel', account: 'two', secret }),
      m.acquire({ provider: 'evotel', account: 'one', secret }),
    ]);
    expect(leases.map((l) => l.step)).to.deep.equal([current, current, current]);
  });

  it('makes callers wait for the next free step when the current one is taken, first come first served', async function () {
    this.timeout(90_000);
    const secret = generateSecret();
    // 1.5 s left in the current step; with a 500 ms margin it may still be handed out.
    const now = shiftedClock(28_500);
    const m = manager({ now, minRemainingMs: 500 });
    const current = stepAt(now());

    const holder = await m.acquire({ provider: 'octotel', account, secret });
    expect(holder.step).to.equal(current);

    const resolved: string[] = [];
    const handedAt: Record<string, number> = {};
    const track = (name: string, lease: Promise<TotpLease>) =>
      lease.then((l) => {
        resolved.push(name);
        handedAt[name] = now();
        return l;
      });
    const a = track('a', m.acquire({ provider: 'octotel', account, secret }));
    const b = track('b', m.acquire({ provider: 'octotel', account, secret }));
    const [leaseA, leaseB] = await Promise.all([a, b]);

    expect(leaseA.step).to.equal(current + 1);
    expect(leaseB.step).to.equal(current + 2);
    expect(resolved).to.deep.equal(['a', 'b']);
    // Just in time: no code before its step began, and each while its step is current.
    expect(handedAt.a).to.be.at.least(stepStartMs(current + 1)).and.below(stepStartMs(current + 2));
    expect(handedAt.b).to.be.at.least(stepStartMs(current + 2)).and.below(stepStartMs(current + 3));
    expect(leaseA.code).to.equal(await otplibCode(secret, current + 1));
    expect(leaseB.code).to.equal(await otplibCode(secret, current + 2));
  });

  it('with lookahead, hands out a reserved next step early but never more than lookahead steps ahead', async () => {
    const secret = generateSecret();
    const now = shiftedClock(28_500);
    const m = manager({ now, lookaheadSteps: { octotel: 1 } });
    const current = stepAt(now());
    const leases = await Promise.all([0, 1, 2].map(() => m.acquire({ provider: 'octotel', account, secret })));
    const afterAll = now();
    expect(leases.map((l) => l.step)).to.deep.equal([current, current + 1, current + 2]);
    // The third one (current + 2) was usable only from the start of current + 1.
    expect(afterAll).to.be.at.least(stepStartMs(current + 1));
  });

  it('skips a current step that ends within minRemainingMs', async () => {
    const secret = generateSecret();
    const now = shiftedClock(29_000);
    const m = manager({ now, minRemainingMs: 5_000 });
    const current = stepAt(now());
    const lease = await m.acquire({ provider: 'octotel', account, secret });
    expect(lease.step).to.equal(current + 1);
    expect(now()).to.be.at.least(stepStartMs(current + 1));
  });

  it('with the real clock, serves two concurrent logins in two consecutive steps, each code valid when handed out', async function () {
    this.timeout(90_000);
    const secret = generateSecret();
    const m = manager();
    const checks = [0, 1].map(async () => {
      const lease = await m.acquire({ provider: 'octotel', account, secret });
      // No tolerance: the code must be the one of the step that is current at hand-out.
      const check = await verify({ secret, token: lease.code, epoch: Date.now() / 1000 });
      return { step: lease.step, valid: check.valid, current: stepAt(Date.now()) };
    });
    const results = await Promise.all(checks);
    expect(results.map((r) => r.valid)).to.deep.equal([true, true]);
    expect(results[1]!.step).to.equal(results[0]!.step + 1);
    for (const r of results) expect(r.current).to.equal(r.step);
  });

  it('releases a reserved step when the acquire is aborted while waiting', async () => {
    const secret = generateSecret();
    const now = shiftedClock(10_000);
    // 20 s left < 25 s margin: the caller reserves the next step and waits ~20 s for it.
    const m = manager({ now, minRemainingMs: 25_000 });
    const next = stepAt(now()) + 1;
    const key = new TotpKeys(prefix).step('octotel', account, next);
    const controller = new AbortController();
    const pending = m.acquire({ provider: 'octotel', account, secret, signal: controller.signal });
    while ((await redis.exists(key)) === 0) await new Promise((r) => setTimeout(r, 10));
    const reason = new Error('login cancelled');
    controller.abort(reason);
    let caught: unknown;
    await pending.catch((e: unknown) => (caught = e));
    expect(caught).to.equal(reason);
    expect(await redis.exists(key)).to.equal(0);
  });

  it('close() rejects pending acquires with SERVICE_UNAVAILABLE and frees their steps; later acquires fail', async () => {
    const secret = generateSecret();
    const now = shiftedClock(10_000);
    const m = manager({ now, minRemainingMs: 25_000 });
    const key = new TotpKeys(prefix).step('octotel', account, stepAt(now()) + 1);
    const pending = m.acquire({ provider: 'octotel', account, secret });
    while ((await redis.exists(key)) === 0) await new Promise((r) => setTimeout(r, 10));
    await m.close();
    let caught: unknown;
    await pending.catch((e: unknown) => (caught = e));
    expect(isRpaError(caught, 'SERVICE_UNAVAILABLE')).to.equal(true);
    expect(await redis.exists(key)).to.equal(0);
    let after: unknown;
    await m.acquire({ provider: 'octotel', account, secret }).catch((e: unknown) => (after = e));
    expect(isRpaError(after, 'SERVICE_UNAVAILABLE')).to.equal(true);
  });

  it('refuses with a retryable TOTP_STEP_TAKEN when every step it may queue for is taken', async () => {
    const secret = generateSecret();
    const now = shiftedClock(10_000);
    const m = manager({ now, maxQueueSteps: 2, lookaheadSteps: { octotel: 2 } });
    await m.acquire({ provider: 'octotel', account, secret });
    await m.acquire({ provider: 'octotel', account, secret });
    let caught: unknown;
    await m.acquire({ provider: 'octotel', account, secret }).catch((e: unknown) => (caught = e));
    expect(isRpaError(caught, 'TOTP_STEP_TAKEN')).to.equal(true);
    expect((caught as { retryable: boolean }).retryable).to.equal(true);
  });

  it('holds a step only a few steps long (TTL)', async () => {
    const secret = generateSecret();
    const now = shiftedClock(10_000);
    const m = manager({ now });
    const lease = await m.acquire({ provider: 'octotel', account, secret });
    const ttl = await redis.pttl(new TotpKeys(prefix).step('octotel', account, lease.step));
    // Until the end of the step (20 s) plus one held step (30 s).
    expect(ttl).to.be.above(40_000).and.at.most(50_000);
  });

  it('refuses an invalid lookahead setting', () => {
    let caught: unknown;
    try {
      new TotpManager({ redis, lookaheadSteps: { octotel: -1 } });
    } catch (e) {
      caught = e;
    }
    expect(isRpaError(caught, 'CONFIG_INVALID')).to.equal(true);
  });

  it('reserve() holds a step without a code; release() gives it back; a reservation is taken once', async () => {
    const secret = generateSecret();
    const now = shiftedClock(10_000);
    const m = manager({ now });
    const current = stepAt(now());
    const first = await m.reserve({ provider: 'octotel', account, secret });
    const second = await m.reserve({ provider: 'octotel', account, secret });
    expect([first.step, second.step]).to.deep.equal([current, current + 1]);
    expect(first.usableAt).to.equal(stepStartMs(current));
    await first.release();
    await first.release();
    expect(await redis.exists(new TotpKeys(prefix).step('octotel', account, current))).to.equal(0);
    // The freed step goes to the next caller.
    const third = await m.reserve({ provider: 'octotel', account, secret });
    expect(third.step).to.equal(current);
    const lease = await third.take();
    expect(lease.code).to.equal(await otplibCode(secret, current));
    let again: unknown;
    await third.take().catch((e: unknown) => (again = e));
    expect(isRpaError(again, 'INTERNAL')).to.equal(true);
    // A step whose code was computed is never given back.
    await third.release();
    expect(await redis.exists(new TotpKeys(prefix).step('octotel', account, current))).to.equal(1);
    expect(await m.stats()).to.deep.equal({ octotel: { generated: 1, consumed: 1, accepted: 0, refused: 0 } });
  });

  it('close() releases reservations nobody took', async () => {
    const secret = generateSecret();
    const now = shiftedClock(10_000);
    const m = manager({ now });
    const reservation = await m.reserve({ provider: 'octotel', account, secret });
    const key = new TotpKeys(prefix).step('octotel', account, reservation.step);
    expect(await redis.exists(key)).to.equal(1);
    await m.close();
    expect(await redis.exists(key)).to.equal(0);
  });

  it('does not hand out a step taken too late to type its code: it reserves the next free one', async () => {
    const secret = generateSecret();
    const clock = adjustableClock(24_000);
    const m = manager({ now: clock.now, minRemainingMs: 5_000 });
    const current = stepAt(clock.now());
    const reservation = await m.reserve({ provider: 'octotel', account, secret });
    expect(reservation.step).to.equal(current);
    // The caller comes back with 0.6 s of the step left.
    clock.advance(5_400);
    const lease = await reservation.take();
    expect(lease.step).to.equal(current + 1);
    expect(clock.now()).to.be.at.least(stepStartMs(current + 1));
    expect(lease.code).to.equal(await otplibCode(secret, current + 1));
    // No code was computed for the step that came too late.
    expect(await m.stats()).to.deep.equal({ octotel: { generated: 1, consumed: 1, accepted: 0, refused: 0 } });
  });

  it('release() while take() waits ends the take without a code', async () => {
    const secret = generateSecret();
    const now = shiftedClock(10_000);
    const m = manager({ now, minRemainingMs: 25_000 });
    const reservation = await m.reserve({ provider: 'octotel', account, secret });
    expect(reservation.step).to.equal(stepAt(now()) + 1);
    const taking = reservation.take();
    await reservation.release();
    let caught: unknown;
    await taking.catch((e: unknown) => (caught = e));
    expect(isRpaError(caught, 'INTERNAL')).to.equal(true);
    expect(await redis.exists(new TotpKeys(prefix).step('octotel', account, reservation.step))).to.equal(0);
    expect(await m.stats()).to.deep.equal({});
  });
});
