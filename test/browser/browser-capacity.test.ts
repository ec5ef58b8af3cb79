import { expect } from 'chai';
import { loadConfig } from '../../src/config/config.js';
import { isRpaError } from '../../src/errors/failures.js';
import {
  capacityPolicy,
  desiredPools,
  inBusinessHours,
  parseBusinessHours,
  pickPool,
  planScaling,
  type CapacityPolicy,
  type PoolView,
} from '../../src/browser/browser-capacity.js';

const at = (iso: string) => new Date(iso);

describe('browser capacity', () => {
  describe('business hours', () => {
    const weekdays = parseBusinessHours('mon-fri 07:00-19:00', 'Africa/Johannesburg'); // UTC+2, no DST

    it('is open on weekdays inside the window, in the configured time zone', () => {
      expect(inBusinessHours(weekdays, at('2026-11-23T05:00:00Z'))).to.equal(true); // Mon 07:00 local
      expect(inBusinessHours(weekdays, at('2026-11-23T04:59:00Z'))).to.equal(false); // Mon 06:59 local
      expect(inBusinessHours(weekdays, at('2026-11-23T16:59:00Z'))).to.equal(true); // Mon 18:59 local
      expect(inBusinessHours(weekdays, at('2026-11-23T17:00:00Z'))).to.equal(false); // Mon 19:00 local: end is exclusive
      expect(inBusinessHours(weekdays, at('2026-11-27T10:00:00Z'))).to.equal(true); // Fri
      expect(inBusinessHours(weekdays, at('2026-11-28T10:00:00Z'))).to.equal(false); // Sat
      expect(inBusinessHours(weekdays, at('2026-11-22T10:00:00Z'))).to.equal(false); // Sun
    });

    it('handles a window past midnight and a range that wraps the week', () => {
      const nights = parseBusinessHours('fri-mon 22:00-06:00', 'UTC');
      expect([...nights.days].sort()).to.deep.equal([0, 1, 5, 6]);
      expect(inBusinessHours(nights, at('2026-11-27T23:00:00Z'))).to.equal(true); // Fri 23:00
      expect(inBusinessHours(nights, at('2026-11-28T05:59:00Z'))).to.equal(true); // Sat 05:59, Fri's night
      expect(inBusinessHours(nights, at('2026-11-25T23:00:00Z'))).to.equal(false); // Wed 23:00
      expect(inBusinessHours(nights, at('2026-11-25T03:00:00Z'))).to.equal(false); // Wed 03:00, Tue's night
      expect(inBusinessHours(nights, at('2026-11-24T03:00:00Z'))).to.equal(true); // Tue 03:00, Mon's night
    });

    it('is never open without business hours', () => {
      expect(inBusinessHours(undefined, at('2026-11-23T10:00:00Z'))).to.equal(false);
    });

    it('rejects malformed hours and unknown time zones', () => {
      for (const bad of ['weekdays 7-19', 'mon-fri 25:00-19:00', 'xyz 07:00-19:00']) {
        expect(() => parseBusinessHours(bad, 'UTC'), bad).to.throw().that.satisfies((e: unknown) => isRpaError(e, 'CONFIG_INVALID'));
      }
      expect(() => parseBusinessHours('mon-fri 07:00-19:00', 'Mars/Olympus')).to.throw(/BROWSER_TIME_ZONE/);
    });
  });

  describe('scaling decisions', () => {
    const policy: CapacityPolicy = {
      maxPools: 5,
      warmPools: 2,
      jobsPerPool: 10,
      idleTimeoutMs: 60_000,
      businessHours: parseBusinessHours('mon-fri 08:00-17:00', 'UTC'),
    };
    const open = at('2026-11-23T09:00:00Z');
    const closed = at('2026-11-23T20:00:00Z');
    const pool = (id: string, leases = 0, idleSince = 0, state: PoolView['state'] = 'ready'): PoolView => ({ id, state, leases, idleSince });

    it('wants the warm pool in business hours, one per jobsPerPool queued, the busy ones, at most maxPools', () => {
      expect(desiredPools(policy, { queuedJobs: 0 }, 0, open)).to.equal(2);
      expect(desiredPools(policy, { queuedJobs: 0 }, 0, closed)).to.equal(0);
      expect(desiredPools(policy, { queuedJobs: 1 }, 0, closed)).to.equal(1);
      expect(desiredPools(policy, { queuedJobs: 31 }, 0, open)).to.equal(4);
      expect(desiredPools(policy, { queuedJobs: 10_000 }, 0, open)).to.equal(5);
      expect(desiredPools(policy, { queuedJobs: 0 }, 3, closed)).to.equal(3);
      expect(desiredPools(policy, { queuedJobs: -5 }, 0, closed)).to.equal(0);
    });

    it('grows at once to the wanted count, counting pools still starting', () => {
      const plan = planScaling(policy, [pool('a'), pool('b', 0, 0, 'starting')], { queuedJobs: 35 }, open);
      expect(plan).to.deep.equal({ desired: 4, create: 2, remove: [] });
    });

    it('shrinks only by idle pools past the idle timeout, longest idle first', () => {
      const now = closed.getTime();
      const pools = [
        pool('busy', 2, now - 600_000),
        pool('idle-long', 0, now - 300_000),
        pool('idle-longer', 0, now - 400_000),
        pool('idle-short', 0, now - 10_000),
        pool('starting', 0, now - 900_000, 'starting'),
      ];
      // Wanted: 1 (the busy one); excess 4; removable: the two idle past the timeout.
      expect(planScaling(policy, pools, { queuedJobs: 0 }, closed)).to.deep.equal({ desired: 1, create: 0, remove: ['idle-longer', 'idle-long'] });
      // Wanted: 4 (35 queued); excess 1: the longest idle goes.
      expect(planScaling(policy, pools, { queuedJobs: 35 }, closed)).to.deep.equal({ desired: 4, create: 0, remove: ['idle-longer'] });
    });

    it('keeps the warm pool through the day and lets it go after hours', () => {
      const longAgo = open.getTime() - 3_600_000;
      const pools = [pool('w1', 0, longAgo), pool('w2', 0, longAgo)];
      expect(planScaling(policy, pools, { queuedJobs: 0 }, open).remove).to.deep.equal([]);
      expect(planScaling(policy, pools, { queuedJobs: 0 }, closed).remove).to.deep.equal(['w1', 'w2']);
    });

    it('picks the ready pool with the fewest leases', () => {
      expect(pickPool([pool('a', 3), pool('b', 1), pool('c', 0, 0, 'starting')])?.id).to.equal('b');
      expect(pickPool([pool('c', 0, 0, 'starting')])).to.equal(undefined);
    });

    it('reads its policy from the settings, the warm pool capped by the maximum', () => {
      const config = loadConfig({
        env: { BROWSER_MAX_POOLS: '2', BROWSER_WARM_POOLS: '6', BROWSER_JOBS_PER_POOL: '7', BROWSER_IDLE_TIMEOUT_MS: '1000', BROWSER_BUSINESS_HOURS: 'sat 08:00-12:00' },
      });
      const p = capacityPolicy(config);
      expect(p).to.include({ maxPools: 2, warmPools: 2, jobsPerPool: 7, idleTimeoutMs: 1000 });
      expect(p.businessHours?.timeZone).to.equal('UTC');
      expect(inBusinessHours(p.businessHours, at('2026-11-28T09:00:00Z'))).to.equal(true);
      expect(() => loadConfig({ env: { BROWSER_BUSINESS_HOURS: 'always' } })).to.throw(/BROWSER_BUSINESS_HOURS/);
    });
  });
});
