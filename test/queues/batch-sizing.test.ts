import { expect } from 'chai';
import { LIFETIME_SHARE, chooseBatchSize } from '../../src/queues/batch-sizing.js';
import type { PortalPace } from '../../src/queues/portal-pace.js';

const pace = (p: Partial<PortalPace>): PortalPace => ({ provider: 'evotel', batches: 3, expiries: 0, ...p });

describe('chooseBatchSize: a batch sized to what a session of the portal lasts', () => {
  it('is BATCH_SIZE while no session was seen to expire', () => {
    expect(chooseBatchSize(undefined, 50)).to.include({ size: 50 });
    expect(chooseBatchSize(pace({ sessionMsPerJob: 400 }), 50)).to.include({ size: 50 });
    expect(chooseBatchSize(pace({ sessionMsPerJob: 400 }), 50).basis).to.match(/no session of this portal was seen to expire/);
  });

  it('is BATCH_SIZE when sessions expired but no pace was measured yet', () => {
    expect(chooseBatchSize(pace({ sessionLifeMs: 10_000, expiries: 1 }), 50)).to.include({ size: 50 });
  });

  it('holds the jobs a session gets through in its share of the shortest recent lifetime', () => {
    // 20 s sessions at 500 ms per job: 0.8 × 20 000 / 500 = 32 jobs.
    const choice = chooseBatchSize(pace({ sessionLifeMs: 20_000, expiries: 2, sessionMsPerJob: 500 }), 50);
    expect(choice.size).to.equal(Math.floor((LIFETIME_SHARE * 20_000) / 500));
    expect(choice.size).to.equal(32);
    expect(choice.basis).to.match(/32 jobs fit in 80% of the shortest recent session \(20 s\) at 500 ms per job/);
  });

  it('never goes above BATCH_SIZE nor below one job', () => {
    expect(chooseBatchSize(pace({ sessionLifeMs: 600_000, expiries: 1, sessionMsPerJob: 100 }), 50).size).to.equal(50);
    expect(chooseBatchSize(pace({ sessionLifeMs: 100, expiries: 1, sessionMsPerJob: 5_000 }), 50).size).to.equal(1);
  });
});
