import { expect } from 'chai';
import type { Redis } from 'iovalkey';
import { generateSecret } from 'otplib';
import { isRpaError } from '../../src/errors/failures.js';
import { utcDay } from '../../src/totp/totp-counters.js';
import { TotpManager } from '../../src/totp/totp-manager.js';
import { testLogger, uniquePrefix } from '../support/shared-services.js';
import { connectSharedValkey, shiftedClock } from './totp-test-support.js';

describe('TotpManager counters', () => {
  let redis: Redis;
  let manager: TotpManager;
  let now: () => number;

  beforeEach(async () => {
    redis = await connectSharedValkey();
    now = shiftedClock(10_000);
    manager = new TotpManager({
      redis,
      prefix: uniquePrefix('totp'),
      logger: testLogger,
      now,
      lookaheadSteps: { octotel: 3, evotel: 3 },
    });
  });

  afterEach(async () => {
    await manager.close();
    redis.disconnect();
  });

  it('counts generated, consumed, accepted and refused codes per provider for the day', async () => {
    const secret = generateSecret();
    const [first, second] = await Promise.all([
      manager.acquire({ provider: 'octotel', account: 'a', secret }),
      manager.acquire({ provider: 'octotel', account: 'a', secret }),
    ]);
    const evotel = await manager.acquire({ provider: 'evotel', account: 'b', secret });
    await first!.report('accepted');
    await second!.report('refused');
    await evotel.report('accepted');

    const expected = {
      octotel: { generated: 2, consumed: 2, accepted: 1, refused: 1 },
      evotel: { generated: 1, consumed: 1, accepted: 1, refused: 0 },
    };
    expect(await manager.stats()).to.deep.equal(expected);
    expect(await manager.stats(utcDay(now()))).to.deep.equal(expected);
    expect(await manager.stats('2001-01-01')).to.deep.equal({});
  });

  it('shares counters between managers on the same prefix', async () => {
    const secret = generateSecret();
    const prefix = uniquePrefix('totp');
    const other = await connectSharedValkey();
    const a = new TotpManager({ redis, prefix, now });
    const b = new TotpManager({ redis: other, prefix, now, lookaheadSteps: { octotel: 1 } });
    try {
      await (await a.acquire({ provider: 'octotel', account: 'x', secret })).report('accepted');
      await (await b.acquire({ provider: 'octotel', account: 'x', secret })).report('refused');
      const expected = { octotel: { generated: 2, consumed: 2, accepted: 1, refused: 1 } };
      expect(await a.stats()).to.deep.equal(expected);
      expect(await b.stats()).to.deep.equal(expected);
    } finally {
      await Promise.all([a.close(), b.close()]);
      other.disconnect();
    }
  });

  it('report is idempotent: only the first outcome of a lease counts', async () => {
    const lease = await manager.acquire({ provider: 'octotel', account: 'a', secret: generateSecret() });
    await Promise.all([lease.report('accepted'), lease.report('accepted')]);
    await lease.report('refused');
    await lease.report('accepted');
    expect(await manager.stats()).to.deep.equal({ octotel: { generated: 1, consumed: 1, accepted: 1, refused: 0 } });
  });

  it('refuses an unknown outcome and a malformed day', async () => {
    const lease = await manager.acquire({ provider: 'octotel', account: 'a', secret: generateSecret() });
    let outcomeError: unknown;
    await lease.report('maybe' as 'accepted').catch((e: unknown) => (outcomeError = e));
    expect(isRpaError(outcomeError, 'VALIDATION_FAILED')).to.equal(true);
    let dayError: unknown;
    await manager.stats('23/11/2026').catch((e: unknown) => (dayError = e));
    expect(isRpaError(dayError, 'VALIDATION_FAILED')).to.equal(true);
  });
});
