import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { formatDemoReport, runDemo, type DemoReport } from '../../src/cli/demo-command.js';
import { demoSample, practiceCircuitNumber, seedSpace } from '../../src/cli/demo-sample.js';
import { findDescriptor, providerNames } from '../../src/providers/descriptors.js';
import { testRoot } from '../support/shared-services.js';
import { startSystemHarness, SYSTEM_API_KEY, type SystemHarness } from '../support/system-harness.js';

const exec = promisify(execFile);
const bin = join(process.cwd(), 'bin', 'rpa.mjs');

/** What every demo report must hold, whatever the run. */
function expectConsistent(report: DemoReport, jobs: number): void {
  expect(report.jobs).to.equal(jobs);
  expect(report.providers.map((r) => r.provider)).to.deep.equal([...providerNames()]);
  expect(report.no_portal_stats).to.deep.equal([]);
  const perProvider = (p: number) => Math.floor(jobs / 4) + (p < jobs % 4 ? 1 : 0);
  report.providers.forEach((r, p) => {
    expect(r.jobs, r.provider).to.equal(perProvider(p));
    expect(r.validations + r.cancellations, r.provider).to.equal(r.jobs);
    expect(r.completed + r.failed, r.provider).to.equal(r.jobs);
    expect(r.failed, `${r.provider}: ${JSON.stringify(report.failures)}`).to.equal(0);
    expect(r.unexpected, r.provider).to.equal(0);
    expect(r.batches, r.provider).to.be.at.least(1);
    // One login per batch: the portal's own count, with slack for one re-login.
    expect(r.logins, r.provider).to.be.at.least(1);
    expect(r.logins!, r.provider).to.be.at.most(r.batches + 1);
    expect(r.wall_ms, r.provider).to.be.greaterThan(0);
  });
  for (const key of ['jobs', 'batches', 'completed', 'failed', 'not_found', 'already_cancelled', 'cancelled_now'] as const) {
    expect(report.total[key], key).to.equal(report.providers.reduce((a, r) => a + r[key], 0));
  }
  expect(report.total.logins).to.equal(report.providers.reduce((a, r) => a + r.logins!, 0));
  expect(report.total.completed + report.total.failed).to.equal(jobs);
  expect(report.wall_ms).to.equal(Math.max(...report.providers.map((r) => r.wall_ms)));
}

describe('rpa demo', function () {
  this.timeout(600_000);

  describe('the sample', () => {
    it('mixes both actions, not-found and already-cancelled circuits, valid numbers, fresh per seed', () => {
      const sample = demoSample(24, 7);
      expect(sample).to.have.length(24);
      for (const job of sample) expect(findDescriptor(job.provider)!.circuitPattern.test(job.circuit_number), job.circuit_number).to.equal(true);
      for (const provider of providerNames()) {
        const mine = sample.filter((j) => j.provider === provider);
        expect(mine).to.have.length(6);
        expect(new Set(mine.map((j) => j.circuit_number)).size).to.equal(6);
        expect(mine.map((j) => j.expect)).to.include.members(['not-found', 'cancelled', 'already-cancelled', 'found', 'cancel']);
        expect(mine.some((j) => j.action === 'cancellation' && j.expect === 'not-found')).to.equal(true);
      }
      const other = new Set(demoSample(24, 8).map((j) => j.circuit_number));
      expect(sample.filter((j) => other.has(j.circuit_number))).to.deep.equal([]);
      expect(seedSpace(200)).to.equal(1_000);
      expect(seedSpace(1_000)).to.equal(100);
      expect(() => demoSample(24, seedSpace(24))).to.throw('seed');
      expect(practiceCircuitNumber('metrofiber', 12_345_678)).to.equal('MFN-1234-5678');
      expect(() => practiceCircuitNumber('evotel', 1_234_567)).to.throw('does not fit');
    });
  });

  describe('against the whole system on practice portals', () => {
    let harness: SystemHarness;
    before(async () => {
      harness = await startSystemHarness();
    });
    after(async () => {
      await harness?.close();
    });

    it('submits 24 jobs through the API and reports per provider: batches, the portals\' logins, completed, failed, wall time', async () => {
      const progress: string[] = [];
      const stream = Object.assign(new (await import('node:stream')).Writable({ write: (chunk, _enc, done) => (progress.push(String(chunk)), done()) }), { isTTY: false });
      const report = await runDemo({ api: harness.system.apiUrl!, key: SYSTEM_API_KEY, jobs: 24, timeoutMs: 300_000, progress: stream });
      expectConsistent(report, 24);
      expect(report.total.not_found).to.be.greaterThan(0);
      expect(report.total.already_cancelled).to.be.greaterThan(0);
      expect(report.total.cancelled_now).to.be.greaterThan(0);

      // The portals agree: one cancellation per circuit the run cancelled, nothing submitted twice.
      for (const provider of providerNames()) {
        const stats = await harness.portal(provider, 'GET', '/__sandbox/stats');
        expect(stats.duplicate_cancel_attempts, provider).to.equal(0);
        expect(Object.keys(stats.cancellations).length, provider).to.equal(report.providers.find((r) => r.provider === provider)!.cancelled_now);
      }

      const text = formatDemoReport(report);
      expect(text).to.match(/^provider\s+jobs\s+valid\/cancel\s+batches\s+logins\s+completed\s+failed/);
      for (const provider of [...providerNames(), 'total']) expect(text).to.match(new RegExp(`^${provider}\\s+\\d+\\s+\\d+/\\d+`, 'm'));
      expect(progress.join('')).to.include('jobs finished');
    });

    it('runs again as `rpa demo --json` (a child process): fresh circuits, so cancellations are new again', async () => {
      const dir = mkdtempSync(join(testRoot(), 'demo-'));
      const env = { PATH: process.env.PATH, HOME: process.env.HOME, RPA_DATA_DIR: dir };
      const { stdout } = await exec(process.execPath, [bin, 'demo', '--jobs', '12', '--json', '--api', harness.system.apiUrl!, '--key', SYSTEM_API_KEY], { env, timeout: 300_000 });
      const report = JSON.parse(stdout) as DemoReport;
      expectConsistent(report, 12);
      expect(report.total.not_found).to.be.greaterThan(0);
      expect(report.total.already_cancelled).to.be.greaterThan(0);
      expect(report.total.cancelled_now).to.be.greaterThan(0);
    });
  });
});
