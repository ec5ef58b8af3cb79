import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { RpaError } from '../../src/errors/failures.js';
import { LoginGate } from '../../src/providers/login-gate.js';

describe('LoginGate: one login at a time for the pages of a session', () => {
  const counting = () => {
    const calls = { n: 0 };
    const login = async () => {
      calls.n += 1;
      await sleep(20);
    };
    return { calls, login };
  };

  it('logs in once for every page that needs a login at the same time', async () => {
    const gate = new LoginGate();
    const { calls, login } = counting();
    await Promise.all([gate.ready(login), gate.ready(login), gate.ready(login), gate.ready(login)]);
    expect(calls.n).to.equal(1);
    expect(gate.isLoggedIn).to.equal(true);
    expect(gate.generation).to.equal(1);
    await gate.ready(login);
    expect(calls.n).to.equal(1);
  });

  it('logs in again once when several pages find the same session lost; a page answered for the old session only tries again', async () => {
    const gate = new LoginGate();
    const { calls, login } = counting();
    await gate.ready(login);
    const seen = gate.generation;
    await Promise.all([gate.relogin(seen, login), gate.relogin(seen, login), gate.relogin(seen, login)]);
    expect(calls.n).to.equal(2);
    expect(gate.generation).to.equal(2);
    // A page whose request was answered for generation 1 after the re-login: no new login.
    await gate.relogin(seen, login);
    expect(calls.n).to.equal(2);
    // The new session lost too: one more.
    await gate.relogin(gate.generation, login);
    expect(calls.n).to.equal(3);
  });

  it('makes pages that start while a re-login runs wait for it', async () => {
    const gate = new LoginGate();
    const { calls, login } = counting();
    await gate.ready(login);
    const relogin = gate.relogin(gate.generation, login);
    expect(gate.isLoggedIn).to.equal(false);
    await Promise.all([relogin, gate.ready(login)]);
    expect(calls.n).to.equal(2);
  });

  it('after a refused login, hands every later page the same refusal instead of logging in again', async () => {
    const gate = new LoginGate();
    let calls = 0;
    const refused = new RpaError('LOGIN_REFUSED', 'portal refused the credentials');
    const login = async () => {
      calls += 1;
      await sleep(5);
      throw refused;
    };
    const results = await Promise.allSettled([gate.ready(login), gate.ready(login)]);
    expect(results.map((r) => r.status)).to.deep.equal(['rejected', 'rejected']);
    const later = await gate.ready(login).catch((e: unknown) => e);
    expect(later).to.equal(refused);
    expect(calls).to.equal(1);
  });

  it('tries again after a login that failed for a passing reason (the portal did not answer)', async () => {
    const gate = new LoginGate();
    let calls = 0;
    const login = async () => {
      calls += 1;
      if (calls === 1) throw new RpaError('PORTAL_UNAVAILABLE', 'no answer');
    };
    await gate.ready(login).catch(() => undefined);
    await gate.ready(login);
    expect(calls).to.equal(2);
    expect(gate.isLoggedIn).to.equal(true);
  });
});
