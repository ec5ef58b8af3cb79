import { expect } from 'chai';
import type { Redis } from 'iovalkey';
import { generate, generateSecret } from 'otplib';
import { isRpaError } from '../../src/errors/failures.js';
import type { ProviderSessionContext } from '../../src/providers/provider.js';
import { TOTP_PERIOD_MS, stepAt } from '../../src/totp/totp-code.js';
import { TotpKeys } from '../../src/totp/totp-keys.js';
import { createTotpHooks } from '../../src/totp/totp-hooks.js';
import { TotpManager } from '../../src/totp/totp-manager.js';
import { testLogger, uniquePrefix } from '../support/shared-services.js';
import { connectSharedValkey, shiftedClock } from './totp-test-support.js';

describe('createTotpHooks', () => {
  let redis: Redis;
  let manager: TotpManager;
  let now: () => number;
  let prefix: string;

  beforeEach(async () => {
    redis = await connectSharedValkey();
    now = shiftedClock(10_000);
    prefix = uniquePrefix('totp');
    manager = new TotpManager({ redis, prefix, logger: testLogger, now, lookaheadSteps: { octotel: 1 } });
  });

  afterEach(async () => {
    await manager.close();
    redis.disconnect();
  });

  it('gives a provider session fresh codes per call and reports the last one once', async () => {
    const secret = generateSecret();
    const hooks = createTotpHooks(manager, { provider: 'octotel', account: 'rpa.octotel', secret });
    // The hooks fit the provider session context as they are.
    const fits: Pick<ProviderSessionContext, 'getTotp' | 'reportTotp'> = hooks;
    expect(fits.getTotp).to.be.a('function');

    let early: unknown;
    await hooks.reportTotp('accepted').catch((e: unknown) => (early = e));
    expect(isRpaError(early, 'INTERNAL')).to.equal(true);

    const current = stepAt(now());
    const first = await hooks.getTotp();
    await hooks.reportTotp('refused');
    const second = await hooks.getTotp();
    await hooks.reportTotp('accepted');
    await hooks.reportTotp('accepted');

    expect(hooks.steps).to.deep.equal([current, current + 1]);
    expect(first).to.equal(await generate({ secret, epoch: (current * TOTP_PERIOD_MS) / 1000 }));
    expect(second).to.equal(await generate({ secret, epoch: ((current + 1) * TOTP_PERIOD_MS) / 1000 }));
    expect(await manager.stats()).to.deep.equal({ octotel: { generated: 2, consumed: 2, accepted: 1, refused: 1 } });
  });

  it('prepare() queues the login for its step and lets it start leadMs before; getTotp then takes that step', async () => {
    const secret = generateSecret();
    const clock = shiftedClock(28_500);
    const m = new TotpManager({ redis, prefix: uniquePrefix('totp'), logger: testLogger, now: clock, minRemainingMs: 500 });
    try {
      const current = stepAt(clock());
      const holder = await m.acquire({ provider: 'octotel', account: 'rpa.octotel', secret });
      expect(holder.step).to.equal(current);
      const hooks = createTotpHooks(m, { provider: 'octotel', account: 'rpa.octotel', secret });
      await hooks.prepare({ leadMs: 1_000 });
      const preparedAt = clock();
      const nextStart = (current + 1) * TOTP_PERIOD_MS;
      expect(preparedAt).to.be.at.least(nextStart - 1_000).and.below(nextStart);
      // Another login arriving now queues behind the prepared one.
      const later = await m.reserve({ provider: 'octotel', account: 'rpa.octotel', secret });
      expect(later.step).to.equal(current + 2);
      await later.release();
      const code = await hooks.getTotp();
      expect(clock()).to.be.at.least(nextStart);
      expect(hooks.steps).to.deep.equal([current + 1]);
      expect(code).to.equal(await generate({ secret, epoch: ((current + 1) * TOTP_PERIOD_MS) / 1000 }));
    } finally {
      await m.close();
    }
  });

  it('prepare() leaves the current step when the lead would leave less than minRemainingMs of it: the login gets its lead on the next step', async () => {
    const secret = generateSecret();
    // 12 s of the step left: room for a 1 s lead, not for a 10 s one (minRemainingMs 5 s).
    const clock = shiftedClock(18_000);
    const m = new TotpManager({ redis, prefix: uniquePrefix('totp'), logger: testLogger, now: clock, minRemainingMs: 5_000 });
    try {
      const current = stepAt(clock());
      const short = createTotpHooks(m, { provider: 'octotel', account: 'rpa.short', secret });
      await short.prepare({ leadMs: 1_000 });
      expect(clock() - current * TOTP_PERIOD_MS, 'let go at once').to.be.below(20_000);
      await short.getTotp();
      expect(short.steps).to.deep.equal([current]);
      const long = createTotpHooks(m, { provider: 'octotel', account: 'rpa.long', secret });
      await long.prepare({ leadMs: 10_000 });
      // Let go 10 s before the next step, not at once with 12 s of this one left.
      expect(clock()).to.be.at.least((current + 1) * TOTP_PERIOD_MS - 10_000);
      const plain = await m.reserve({ provider: 'octotel', account: 'rpa.long', secret });
      expect(plain.step, 'a reserve without a lead still takes the current step').to.equal(current);
      await plain.release();
      await long.release();
    } finally {
      await m.close();
    }
  });

  it('release() gives a prepared step back when the login failed before its code', async () => {
    const secret = generateSecret();
    const hooks = createTotpHooks(manager, { provider: 'octotel', account: 'rpa.octotel', secret });
    await hooks.prepare();
    const step = stepAt(now());
    const key = new TotpKeys(prefix).step('octotel', 'rpa.octotel', step);
    expect(await redis.exists(key)).to.equal(1);
    await hooks.release();
    await hooks.release();
    expect(await redis.exists(key)).to.equal(0);
    expect(hooks.steps).to.deep.equal([]);
    expect(await manager.stats()).to.deep.equal({});
  });
});
