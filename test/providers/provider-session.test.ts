import { basename, dirname, relative } from 'node:path';
import { expect } from 'chai';
import evotel from '../../src/providers/evotel/index.js';
import octotel from '../../src/providers/octotel/index.js';
import { expectedValidation } from '../support/expected-circuit.js';
import { ProviderHarness, fileExists, rejection } from './provider-test-kit.js';

describe('ProviderSession (with the Evotel practice portal)', function () {
  this.timeout(90_000);
  const h = new ProviderHarness(evotel.automation);

  before(async function () {
    this.timeout(60_000);
    await h.start();
  });
  after(async () => {
    await h.stop();
  });
  beforeEach(async () => {
    await h.control.reset();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it('keeps evidence inside <evidenceDir>/<provider>/<batchId>/ whatever the ids contain', async () => {
    const session = await h.session({ batchId: '../../escape batch' });
    const { evidence } = await session.cancel('../job/7', { circuit_number: 'EVO000019' });
    expect(evidence).to.have.length(1);
    const rel = relative(h.evidenceDir, evidence[0]);
    expect(rel.startsWith('..')).to.equal(false);
    expect(dirname(rel)).to.equal('evotel/__.._escape_batch');
    expect(basename(rel)).to.match(/^job-__job_7-already-cancelled-\d{8}T\d{9}Z\.png$/);
    const other = await h.session({ batchId: '..' });
    const second = await other.cancel('..', { circuit_number: 'EVO000029' });
    expect(relative(h.evidenceDir, second.evidence[0])).to.match(/^evotel\/_\/job-_-already-cancelled-/);
    expect(fileExists(evidence[0])).to.equal(true);
  });

  it('logs in again only once per job when the session keeps getting lost', async () => {
    const session = await h.session();
    await session.login();
    // Every search is answered with the portal's expired redirect, as if each session died at once.
    await h.contexts[0].route(
      (url) => url.pathname === '/services' && url.searchParams.has('query'),
      (route) => route.fulfill({ status: 302, headers: { location: '/account/login?timeout=1' } }),
    );
    const error = await rejection(session.validate('j1', 'EVO000021'));
    expect(error.code).to.equal('SESSION_LOST');
    expect(error.retryable).to.equal(true);
    expect(session.loginCount).to.equal(2);
    expect((await h.control.stats()).logins_ok).to.equal(2);
    const evidence = error.details?.evidence as string[];
    expect(evidence).to.have.length(1);
    expect(basename(evidence[0])).to.match(/^job-j1-failed-/);
  });

  it('reports a page that does not match the contract as PAGE_CONTRACT_MISMATCH, with evidence', async () => {
    const session = await h.session({ timeouts: { actionMs: 1_000 } });
    await session.login();
    await h.contexts[0].route(
      (url) => url.pathname === '/services' && url.searchParams.has('query'),
      (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<html><body><p>Redesigned portal</p></body></html>' }),
    );
    const error = await rejection(session.validate('j2', 'EVO000021'));
    expect(error.code).to.equal('PAGE_CONTRACT_MISMATCH');
    expect(error.retryable).to.equal(false);
    expect(error.message).to.contain('Evotel');
    expect(session.loginCount).to.equal(1);
    expect(fileExists((error.details?.evidence as string[])[0])).to.equal(true);
  });

  it('logs in lazily on the first job and serves later jobs with the same login', async () => {
    const session = await h.session();
    expect(session.isLoggedIn).to.equal(false);
    await session.validate('j1', 'EVO000021');
    await session.validate('j2', 'EVO000032');
    await session.cancel('j3', { circuit_number: 'EVO000043' });
    expect(session.loginCount).to.equal(1);
    const stats = await h.control.stats();
    expect(stats.logins_ok).to.equal(1);
    expect(stats.active_sessions).to.equal(1);
  });

  it('runs jobs at once on several pages of one login', async () => {
    const session = await h.session();
    const circuits = ['EVO000021', 'EVO000032', 'EVO000043', 'EVO000054', 'EVO000060', 'EVO000079', 'EVO000088', 'EVO000099'];
    const results = await Promise.all([0, 1, 2, 3].map(async (lane) => {
      const mine = circuits.filter((_, i) => i % 4 === lane);
      const out = [];
      for (const circuit of mine) out.push({ circuit, result: (await session.validate(`j-${circuit}`, circuit, lane)).result });
      return out;
    }));
    for (const { circuit, result } of results.flat()) expect(result, circuit).to.deep.equal(expectedValidation('evotel', circuit));
    expect(session.loginCount).to.equal(1);
    expect(h.contexts[0].pages()).to.have.length(4);
    const stats = await h.control.stats();
    expect(stats.logins_ok).to.equal(1);
    expect(stats.active_sessions).to.equal(1);
  });

  it('logs in again once for all its pages when the portal ends the session under them', async () => {
    const lost: number[] = [];
    const session = await h.session({ onSessionLost: (aliveMs) => lost.push(aliveMs) });
    await session.login();
    await h.control.configure({ latency_ms: 300 });
    // Four pages each on their way to the portal when the session ends: a short idle time, a
    // stats read that prunes the expired session, the idle time back.
    const running = ['EVO000021', 'EVO000032', 'EVO000043', 'EVO000054'].map((circuit, lane) => session.validate(`j${lane}`, circuit, lane));
    await new Promise((r) => setTimeout(r, 100));
    await h.control.configure({ session_idle_s: 0.001 });
    await h.control.stats();
    await h.control.configure({ session_idle_s: 600 });
    const outcomes = await Promise.all(running);
    outcomes.forEach((o, lane) => expect(o.result).to.deep.equal(expectedValidation('evotel', ['EVO000021', 'EVO000032', 'EVO000043', 'EVO000054'][lane]!)));
    expect(session.loginCount, 'the first login and one re-login').to.equal(2);
    expect((await h.control.stats()).logins_ok).to.equal(2);
    expect(lost).to.have.length(1);
    await h.control.configure({ latency_ms: 0 });
  });
});

describe('ProviderSession pages (with the Octotel practice portal, TOTP)', function () {
  this.timeout(120_000);
  const h = new ProviderHarness(octotel.automation);

  before(async function () {
    this.timeout(60_000);
    await h.start();
  });
  after(async () => {
    await h.stop();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it('spends one fresh TOTP step on the one re-login its pages share', async () => {
    await h.control.reset();
    const session = await h.session();
    await session.login();
    await h.control.configure({ session_idle_s: 0.001 });
    await h.control.stats();
    await h.control.configure({ session_idle_s: 600 });
    const circuits = ['OCT000021', 'OCT000032', 'OCT000043'];
    const outcomes = await Promise.all(circuits.map((circuit, lane) => session.validate(`j${lane}`, circuit, lane)));
    outcomes.forEach((o, i) => expect(o.result).to.deep.equal(expectedValidation('octotel', circuits[i]!)));
    expect(session.loginCount).to.equal(2);
    expect(session.totp!.outcomes, 'one code per login, both accepted').to.deep.equal(['accepted', 'accepted']);
    const stats = await h.control.stats();
    expect(stats.logins_ok).to.equal(2);
    expect(stats.totp_ok).to.equal(2);
    expect(stats.totp_rejected_reused).to.equal(0);
  });
});
