import { expect } from 'chai';
import type { Redis } from 'iovalkey';
import { generateSecret } from 'otplib';
import { isRpaError } from '../../src/errors/failures.js';
import { TotpKeys } from '../../src/totp/totp-keys.js';
import { TotpManager } from '../../src/totp/totp-manager.js';
import { uniquePrefix } from '../support/shared-services.js';
import { capturingLogger, connectSharedValkey, scanKeys, shiftedClock } from './totp-test-support.js';

describe('TotpManager secrets', () => {
  let redis: Redis;

  beforeEach(async () => {
    redis = await connectSharedValkey();
  });

  afterEach(() => {
    redis.disconnect();
  });

  it('puts neither the secret nor the account in any Valkey key or value, nor in its log lines', async () => {
    const prefix = uniquePrefix('totp');
    const secret = generateSecret();
    const accountName = 'secret-free.user@example.com';
    const { logger, output } = capturingLogger();
    const manager = new TotpManager({ redis, prefix, logger, now: shiftedClock(10_000), lookaheadSteps: { octotel: 2 } });
    try {
      const leases = await Promise.all([0, 1, 2].map(() => manager.acquire({ provider: 'octotel', account: accountName, secret })));
      for (const lease of leases) await lease.report('accepted');
      // A lease serialised into a log line carries no code.
      logger.info({ lease: leases[0] }, 'lease');

      const keys = await scanKeys(redis, new TotpKeys(prefix).pattern());
      expect(keys).to.have.length(4); // three steps + one day of counters
      for (const key of keys) {
        expect(key.startsWith(`{totp}:${prefix}:`)).to.equal(true);
        expect(key.toLowerCase()).not.to.include(secret.toLowerCase());
        expect(key).not.to.include(accountName);
        const value = (await redis.type(key)) === 'hash' ? JSON.stringify(await redis.hgetall(key)) : await redis.get(key);
        expect(value?.toLowerCase()).not.to.include(secret.toLowerCase());
        expect(value).not.to.include(accountName);
      }
      const logged = output();
      expect(logged).to.include('TOTP code handed out');
      expect(logged).not.to.include(secret);
      expect(logged).not.to.include(accountName);
      for (const lease of leases) expect(logged).not.to.include(lease.code);
    } finally {
      await manager.close();
    }
  });

  it('refuses an unusable secret before reserving a step, without quoting it', async () => {
    const prefix = uniquePrefix('totp');
    const manager = new TotpManager({ redis, prefix });
    const badSecret = 'NOT!BASE32!SECRET!VALUE';
    try {
      let caught: unknown;
      await manager.acquire({ provider: 'octotel', account: 'a', secret: badSecret }).catch((e: unknown) => (caught = e));
      expect(isRpaError(caught, 'VALIDATION_FAILED')).to.equal(true);
      const error = caught as Error;
      expect(`${error.message} ${JSON.stringify(error)}`).not.to.include('!');
      expect(error.cause).to.equal(undefined);
      expect(await scanKeys(redis, new TotpKeys(prefix).pattern())).to.deep.equal([]);
    } finally {
      await manager.close();
    }
  });
});
