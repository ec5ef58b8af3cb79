import { expect } from 'chai';
import { desiredPools, planScaling, type CapacityPolicy, type PoolView } from '../../../src/browser/fleet/capacity-plan.js';

const at = (iso: string) => new Date(iso);

describe('capacity plan: how many pools, from numbers alone', () => {
  const policy: CapacityPolicy = { maxPools: 5, jobsPerPool: 10, idleTimeoutMs: 60_000 };
  const now = at('2026-11-23T20:00:00Z');
  const pool = (id: string, leases = 0, idleSince = 0, state: PoolView['state'] = 'ready'): PoolView => ({ id, state, leases, idleSince });

  it('wants the warm minimum, one per jobsPerPool queued, the busy ones, at most maxPools', () => {
    expect(desiredPools(policy, { queuedJobs: 0, warmMinimum: 2 }, 0)).to.equal(2);
    expect(desiredPools(policy, { queuedJobs: 0, warmMinimum: 0 }, 0)).to.equal(0);
    expect(desiredPools(policy, { queuedJobs: 1, warmMinimum: 0 }, 0)).to.equal(1);
    expect(desiredPools(policy, { queuedJobs: 31, warmMinimum: 2 }, 0)).to.equal(4);
    expect(desiredPools(policy, { queuedJobs: 10_000, warmMinimum: 2 }, 0)).to.equal(5);
    expect(desiredPools(policy, { queuedJobs: 0, warmMinimum: 9 }, 0)).to.equal(5);
    expect(desiredPools(policy, { queuedJobs: 0, warmMinimum: 0 }, 3)).to.equal(3);
    expect(desiredPools(policy, { queuedJobs: -5, warmMinimum: -1 }, 0)).to.equal(0);
  });

  it('grows at once to the wanted count, counting pools still starting', () => {
    const plan = planScaling(policy, [pool('a'), pool('b', 0, 0, 'starting')], { queuedJobs: 35, warmMinimum: 2 }, now);
    expect(plan).to.deep.equal({ desired: 4, create: 2, remove: [] });
  });

  it('shrinks only by idle pools past the idle timeout, longest idle first', () => {
    const t = now.getTime();
    const pools = [
      pool('busy', 2, t - 600_000),
      pool('idle-long', 0, t - 300_000),
      pool('idle-longer', 0, t - 400_000),
      pool('idle-short', 0, t - 10_000),
      pool('starting', 0, t - 900_000, 'starting'),
    ];
    // Wanted: 1 (the busy one); excess 4; removable: the two idle past the timeout.
    expect(planScaling(policy, pools, { queuedJobs: 0, warmMinimum: 0 }, now)).to.deep.equal({ desired: 1, create: 0, remove: ['idle-longer', 'idle-long'] });
    // Wanted: 4 (35 queued); excess 1: the longest idle goes.
    expect(planScaling(policy, pools, { queuedJobs: 35, warmMinimum: 0 }, now)).to.deep.equal({ desired: 4, create: 0, remove: ['idle-longer'] });
  });

  it('keeps the warm pools while the minimum wants them, and lets them go, idle, when it drops', () => {
    const longAgo = now.getTime() - 3_600_000;
    const pools = [pool('w1', 0, longAgo), pool('w2', 0, longAgo)];
    expect(planScaling(policy, pools, { queuedJobs: 0, warmMinimum: 2 }, now).remove).to.deep.equal([]);
    expect(planScaling(policy, pools, { queuedJobs: 0, warmMinimum: 0 }, now).remove).to.deep.equal(['w1', 'w2']);
    // A pool that went idle a moment ago stays until the idle timeout has passed.
    expect(planScaling(policy, [pool('w1', 0, now.getTime() - 59_999)], { queuedJobs: 0, warmMinimum: 0 }, now).remove).to.deep.equal([]);
  });
});
