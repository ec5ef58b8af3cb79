import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import evotel from '../../src/providers/evotel/index.js';
import octotel from '../../src/providers/octotel/index.js';
import { expectedValidation } from '../support/expected-circuit.js';
import { EvidenceRecorder } from '../../src/evidence/evidence-recorder.js';
import type { EvidenceStore } from '../../src/evidence/evidence-store.js';
import { ProviderHarness, errorEvidence, evidenceLabels, rejection } from './provider-test-kit.js';

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

  it('stores evidence under the job\'s own key whatever the ids contain, and says what it stored', async () => {
    const session = await h.session({ batchId: '../../escape batch' });
    const { evidence } = await session.cancel('../job/7', { circuit_number: 'EVO000019' });
    expect(evidenceLabels(evidence)).to.deep.equal(['already-cancelled']);
    const [item] = evidence;
    expect(item!.key).to.equal(`jobs/job_7/${item!.name}`);
    expect(item!.name).to.match(/^already-cancelled-\d{8}T\d{9}Z\.png$/);
    expect(item!.contentType).to.equal('image/png');
    const bytes = await h.stored(item!);
    expect(bytes.subarray(1, 4).toString('latin1')).to.equal('PNG');
    // Nothing was written outside the store's folder: the one job folder holds it.
    expect(readdirSync(join(h.evidenceDir, 'jobs', 'job_7'))).to.include(item!.name);
    const other = await h.session({ batchId: '..' });
    const second = await other.cancel('..', { circuit_number: 'EVO000029' });
    expect(second.evidence[0]!.key).to.match(/^jobs\/unnamed\/already-cancelled-/);
  });

  it('keeps the job going when the evidence store refuses a screenshot (logged, left out)', async () => {
    const refusing: EvidenceStore = {
      kind: 'fs',
      check: async () => undefined,
      put: async () => Promise.reject(new Error('disk full')),
      get: async () => undefined,
      deletePrefix: async () => 0,
      close: async () => undefined,
    };
    const session = await h.session({ evidence: new EvidenceRecorder(refusing) });
    const { result, evidence } = await session.validate('j1', 'EVO000021');
    expect(result).to.include({ found: true, status: 'active' });
    expect(evidence).to.deep.equal([]);
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
    const evidence = errorEvidence(error);
    expect(evidenceLabels(evidence)).to.deep.equal(['failed']);
    expect(evidence[0]!.key).to.match(/^jobs\/j1\/failed-/);
    expect((await h.failureRecord(evidence)).code).to.equal('SESSION_LOST');
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
    await h.stored(errorEvidence(error)[0]!);
    const record = await h.failureRecord(errorEvidence(error));
    expect(record).to.include({ code: 'PAGE_CONTRACT_MISMATCH', page: '/services' });
    expect(record.selector).to.be.a('string').and.not.equal('');
    expect(record.dom_snippet).to.contain('Redesigned portal');
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
