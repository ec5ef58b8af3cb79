import { expect } from 'chai';
import type { Redis } from 'iovalkey';
import { generateSecret } from 'otplib';
import { totpStepLedger } from '../../src/db/totp-step-store.js';
import { stepAt } from '../../src/totp/totp-code.js';
import { TotpManager } from '../../src/totp/totp-manager.js';
import { testLogger, uniquePrefix } from '../support/shared-services.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { connectSharedValkey, shiftedClock } from './totp-test-support.js';

/** RFC 6238 §5.2: a step is used by one login only, even when Valkey forgets it handed it out. */
describe('TotpManager with its ledger in Postgres', () => {
  let redis: Redis;
  let database: TestDatabase;
  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => database.drop());
  beforeEach(async () => {
    redis = await connectSharedValkey();
  });
  afterEach(() => redis.disconnect());

  it('never hands out a step twice, even after its Valkey reservations are wiped', async function () {
    this.timeout(60_000);
    const secret = generateSecret();
    const prefix = uniquePrefix('totp-ledger');
    // Early in a step, with a lookahead of one step: the second code comes at once.
    const now = shiftedClock(2_000);
    const options = { redis, prefix, logger: testLogger, now, lookaheadSteps: { octotel: 1 }, ledger: totpStepLedger(database.db) };
    const first = new TotpManager(options);
    const a = await first.acquire({ provider: 'octotel', account: 'rpa.octotel', secret });
    expect(a.step).to.equal(stepAt(now()));
    await first.close();

    // Valkey loses every reservation (FLUSHALL, a failover to an empty replica).
    for (const key of await redis.keys(`*${prefix}*`)) await redis.del(key);
    const second = new TotpManager(options);
    const b = await second.acquire({ provider: 'octotel', account: 'rpa.octotel', secret });
    expect(b.step, 'the step after the one already used').to.equal(a.step + 1);
    expect(b.code).to.not.equal(a.code);
    await second.close();

    // Another account's steps are its own.
    const third = new TotpManager(options);
    const c = await third.acquire({ provider: 'octotel', account: 'another.account', secret });
    expect(c.step).to.equal(stepAt(now()));
    await third.close();
    expect(await totpStepLedger(database.db).lastStep('octotel', 'nope')).to.equal(undefined);
  });

  it('refuses a step at or below the last one handed out', async () => {
    const ledger = totpStepLedger(database.db);
    expect(await ledger.claim('octotel', 'acc-x', 100)).to.equal(true);
    expect(await ledger.claim('octotel', 'acc-x', 100)).to.equal(false);
    expect(await ledger.claim('octotel', 'acc-x', 99)).to.equal(false);
    expect(await ledger.claim('octotel', 'acc-x', 101)).to.equal(true);
    expect(await ledger.lastStep('octotel', 'acc-x')).to.equal(101);
  });
});
