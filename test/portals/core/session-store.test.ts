import { expect } from 'chai';
import { PreAuthStore, SessionStore } from '../../../src/portals/core/session-store.js';

describe('portals/core/session-store', function () {
  it('expires a session idle for idleMs, restarts the clock on use, and reads idleMs on each check', function () {
    let now = 1_000;
    let idle = 1_000;
    const store = new SessionStore(() => idle, () => now);
    const s = store.create('user');
    now += 999;
    expect(store.touch(s.id)?.login).to.equal('user');
    now += 999;
    expect(store.touch(s.id)).to.not.equal(undefined);
    idle = 500;
    now += 500;
    expect(store.touch(s.id)).to.equal(undefined);
    expect(store.liveCount()).to.equal(0);
    expect(store.touch('unknown')).to.equal(undefined);
    expect(store.touch(undefined)).to.equal(undefined);
  });

  it('counts live sessions against a maximum; destroy and expiry free a slot', function () {
    let now = 0;
    const store = new SessionStore(() => 1_000, () => now);
    const a = store.create('u');
    store.create('u');
    expect(store.hasRoom(2)).to.equal(false);
    store.destroy(a.id);
    expect(store.hasRoom(2)).to.equal(true);
    store.create('u');
    now = 1_000;
    expect(store.liveCount()).to.equal(0);
    expect(store.hasRoom(1)).to.equal(true);
  });

  it('pre-auths live a fixed time, however often they are read', function () {
    let now = 0;
    const store = new PreAuthStore<{ login: string }>(120_000, () => now);
    const id = store.create({ login: 'u' });
    now = 119_999;
    expect(store.get(id)).to.deep.equal({ login: 'u' });
    now = 120_000;
    expect(store.get(id)).to.equal(undefined);
  });
});
