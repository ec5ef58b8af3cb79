import { expect } from 'chai';
import type { Redis } from 'iovalkey';
import { PoolDirectory } from '../../../src/browser/client/pool-directory.js';
import { directoryPools } from '../../../src/browser/client/pool-list.js';
import { createValkey } from '../../../src/queues/valkey.js';
import { sharedValkey, uniquePrefix } from '../../support/shared-services.js';
import { waitFor } from '../pool-fixture.js';

const TOKEN = 'pool-token-never-in-valkey-0123456789';

/**
 * The pool directory (real Valkey) replaces the broker's hand-outs: pools are found there, and
 * what a dead owner registered stops counting by itself (the TTL plays the broker's grant expiry).
 */
describe('PoolDirectory: pools registered in Valkey with a TTL, fenced by the fleet leader', () => {
  let redis: Redis;
  let directory: PoolDirectory;

  beforeEach(async () => {
    redis = createValkey((await sharedValkey()).url, 'worker');
    directory = new PoolDirectory({ redis, prefix: uniquePrefix('directory') });
  });
  afterEach(async () => {
    await redis.del(directory.key);
    redis.disconnect();
  });

  const entry = (id: string, freeSlots = 2) => ({ id, url: `http://127.0.0.1:9/${id}`, tokenId: 'configured', freeSlots, busyContexts: 0, registeredBy: 'worker-a' });

  it('lists a registered pool with its room and the id of its token, never the token', async () => {
    expect(await directory.register(entry('pool-1', 3), 10_000)).to.equal(true);
    const [listed] = await directory.list();
    expect(listed).to.include({ id: 'pool-1', url: 'http://127.0.0.1:9/pool-1', tokenId: 'configured', freeSlots: 3, busyContexts: 0, registeredBy: 'worker-a' });
    expect(listed!.expiresAt - Date.now()).to.be.within(0, 10_000);
    const raw = JSON.stringify(await redis.hgetall(directory.key));
    expect(raw).not.to.contain(TOKEN);
    expect(raw).not.to.match(/token"\s*:/);
  });

  it('stops counting an entry its owner did not refresh within the TTL (an owner that died), and keeps one that is refreshed', async () => {
    await directory.register(entry('abandoned'), 400);
    await directory.register(entry('kept'), 400);
    const refreshing = setInterval(() => void directory.register(entry('kept'), 400), 100);
    try {
      await waitFor('the abandoned entry to expire', async () => (await directory.list()).length === 1, 5_000);
      expect((await directory.list()).map((e) => e.id)).to.deep.equal(['kept']);
      // A later write drops the expired field itself, so the hash does not grow with dead pools.
      await directory.register(entry('kept'), 400);
      expect(await redis.hkeys(directory.key)).to.deep.equal(['kept']);
    } finally {
      clearInterval(refreshing);
    }
  });

  it('removes a pool (idempotent: twice, or one never registered)', async () => {
    await directory.register(entry('pool-1'), 10_000);
    await directory.register(entry('pool-2'), 10_000);
    await directory.remove('pool-1');
    await directory.remove('pool-1');
    await directory.remove('never-there');
    expect((await directory.list()).map((e) => e.id)).to.deep.equal(['pool-2']);
  });

  it('writes a fenced registration only while the fence holds: a leader that lost its lock registers nothing', async () => {
    const lock = `${directory.key}:test-lock`;
    await redis.set(lock, 'worker-a 7');
    const fence = { key: lock, value: 'worker-a 7' };
    expect(await directory.register(entry('pool-1'), 10_000, fence)).to.equal(true);
    await redis.set(lock, 'worker-b 8');
    expect(await directory.register({ ...entry('pool-2') }, 10_000, fence)).to.equal(false);
    expect(await directory.register({ ...entry('pool-1'), freeSlots: 0 }, 10_000, fence)).to.equal(false);
    expect((await directory.list()).map((e) => [e.id, e.freeSlots])).to.deep.equal([['pool-1', 2]]);
    await redis.del(lock);
  });

  it('gives a batch only the pools it holds a token for, with the token from its Runtime', async () => {
    await directory.register({ ...entry('mine'), tokenId: 'configured' }, 10_000);
    await directory.register({ ...entry('other'), tokenId: 'generated-0a0b0c' }, 10_000);
    const pools = await directoryPools(directory, { configured: TOKEN }).pools();
    expect(pools).to.deep.equal([{ id: 'mine', url: 'http://127.0.0.1:9/mine', token: TOKEN, freeSlots: 2 }]);
  });
});
