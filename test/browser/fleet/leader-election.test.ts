import { expect } from 'chai';
import type { Redis } from 'iovalkey';
import { PoolDirectory } from '../../../src/browser/client/pool-directory.js';
import { LeaderElection } from '../../../src/browser/fleet/leader-election.js';
import type { EmbeddedValkeyHandle } from '../../../src/infra/embedded-valkey.js';
import { createValkey } from '../../../src/queues/valkey.js';
import { privateValkey, sharedValkey, testLogger, uniquePrefix } from '../../support/shared-services.js';
import { waitFor } from '../pool-fixture.js';

interface Member {
  election: LeaderElection;
  events: string[];
}

describe('LeaderElection: one Valkey lock with a fencing token (real Valkey)', function () {
  this.timeout(30_000);
  let redis: Redis;
  let key: string;
  const members: Member[] = [];
  const connections: Redis[] = [];

  beforeEach(async () => {
    redis = createValkey((await sharedValkey()).url, 'worker');
    key = `${uniquePrefix('election')}:leader`;
  });
  afterEach(async () => {
    await Promise.all(members.splice(0).map((m) => m.election.close()));
    for (const c of connections.splice(0)) c.disconnect();
    await redis.del(key, `${key}:term`);
    redis.disconnect();
  });

  function member(name: string, connection: Redis = redis, ttlMs = 900): Member {
    const events: string[] = [];
    const election = new LeaderElection({
      redis: connection,
      key,
      memberId: name,
      ttlMs,
      logger: testLogger,
      onElected: (term) => events.push(`elected ${term}`),
      onDemoted: (why) => events.push(`demoted: ${why}`),
    });
    const m = { election, events };
    members.push(m);
    return m;
  }

  it('lets exactly one of two members lead, with term 1; the other follows', async () => {
    const a = member('worker-a');
    const b = member('worker-b');
    await a.election.start();
    await b.election.start();
    expect(a.election.isLeader()).to.equal(true);
    expect(b.election.isLeader()).to.equal(false);
    expect(a.events).to.deep.equal(['elected 1']);
    expect(await b.election.leader()).to.deep.equal({ memberId: 'worker-a', term: 1 });
    expect(a.election.fence()).to.deep.equal({ key, value: 'worker-a 1' });
    expect(b.election.fence()).to.equal(undefined);
    // Renewals keep it: several TTLs later nothing changed.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(a.election.isLeader()).to.equal(true);
    expect(b.events).to.deep.equal([]);
  });

  it('hands over when the leader closes: the other member leads with the next term', async () => {
    const a = member('worker-a');
    const b = member('worker-b');
    await a.election.start();
    await b.election.start();
    await a.election.close();
    expect(a.events).to.deep.equal(['elected 1', 'demoted: closing']);
    expect(await redis.get(key), 'the lock is given up at once').to.equal(null);
    await waitFor('worker-b to lead', () => b.election.isLeader(), 5_000);
    expect(b.events).to.deep.equal(['elected 2']);
  });

  it('takes over from a leader that died without closing once its lock runs out', async () => {
    const dying = createValkey((await sharedValkey()).url, 'worker');
    connections.push(dying);
    const a = member('worker-a', dying);
    const b = member('worker-b');
    await a.election.start();
    await b.election.start();
    // "Dies": its connection goes, so nothing renews; the lock expires by its TTL.
    dying.disconnect();
    const died = Date.now();
    await waitFor('worker-b to lead', () => b.election.isLeader(), 5_000);
    expect(Date.now() - died, 'not before the TTL').to.be.greaterThan(300);
    expect(await b.election.leader()).to.deep.equal({ memberId: 'worker-b', term: 2 });
  });

  it('steps down when it finds its lock taken (it was paused past its TTL), and its fenced writes are refused', async () => {
    const a = member('worker-a');
    await a.election.start();
    const fence = a.election.fence()!;
    const directory = new PoolDirectory({ redis, prefix: uniquePrefix('fenced') });
    const entry = { id: 'pool-1', url: 'http://127.0.0.1:9', tokenId: 'configured', freeSlots: 1, busyContexts: 0, registeredBy: 'worker-a' };
    expect(await directory.register(entry, 10_000, fence)).to.equal(true);
    // Meanwhile another worker took the lock (as after a pause longer than the TTL).
    await redis.set(key, 'worker-b 2', 'PX', 10_000);
    expect(await a.election.stillLeading()).to.equal(false);
    expect(await directory.register(entry, 10_000, fence)).to.equal(false);
    await waitFor('worker-a to notice', () => !a.election.isLeader(), 5_000);
    expect(a.events).to.deep.equal(['elected 1', 'demoted: the lock is held by another member']);
    await redis.del(directory.key);
  });

  it('steps down once its TTL has passed while Valkey cannot be reached', async () => {
    let valkey: EmbeddedValkeyHandle | undefined = await privateValkey();
    try {
      const connection = createValkey(valkey.url, 'producer');
      connections.push(connection);
      await waitFor('connected', () => connection.status === 'ready', 5_000);
      const a = member('worker-a', connection, 900);
      await a.election.start();
      expect(a.election.isLeader()).to.equal(true);
      await valkey.stop();
      const stopped = Date.now();
      await waitFor('worker-a to step down', () => a.events.length === 2, 5_000);
      expect(a.events[1]).to.equal('demoted: the lock could not be renewed in time');
      expect(Date.now() - stopped).to.be.lessThan(3_000);
    } finally {
      await valkey?.stop().catch(() => undefined);
      valkey = undefined;
    }
  });
});
