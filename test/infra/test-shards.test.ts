import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { testRoot, uniquePrefix } from '../support/shared-services.js';

interface Shards {
  deal(files: string[], durations: Record<string, number>, shards: number): { files: string[]; seconds: number }[];
  plan(files: string[], durations: Record<string, number>, shards: number): { files: string[]; seconds: number; lane: boolean }[];
  headline(summary: string[]): string[];
}
const load = async (): Promise<Shards> => (await import(pathToFileURL(join(process.cwd(), 'scripts', 'test-shards.mjs')).href)) as Shards;

describe('npm test shards (scripts/test-shards.mjs)', () => {
  it('deals files by their recorded seconds, longest first, to the lightest shard; a new file counts 10 s', async () => {
    const { deal } = await load();
    const files = ['dist/test/a.test.js', 'dist/test/b.test.js', 'dist/test/c.test.js', 'dist/test/new.test.js'];
    const bins = deal(files, { 'test/a.test.ts': 100, 'test/b.test.ts': 60, 'test/c.test.ts': 30 }, 2);
    expect(bins.map((b) => b.files)).to.deep.equal([['dist/test/a.test.js'], ['dist/test/b.test.js', 'dist/test/c.test.js', 'dist/test/new.test.js']]);
    expect(bins.map((b) => b.seconds)).to.deep.equal([100, 100]);
  });

  it('runs the files that wait on the clock (*.clock.test) in a lane of their own beside the shards, and with everything when there is one process', async () => {
    const { plan } = await load();
    const files = ['dist/test/a.test.js', 'dist/test/b.test.js', 'dist/test/totp/slow.clock.test.js', 'dist/test/c.clock.test.js'];
    const durations = { 'test/a.test.ts': 50, 'test/b.test.ts': 40, 'test/totp/slow.clock.test.ts': 250 };
    expect(plan(files, durations, 2)).to.deep.equal([
      { files: ['dist/test/a.test.js'], seconds: 50, lane: false },
      { files: ['dist/test/b.test.js'], seconds: 40, lane: false },
      { files: ['dist/test/c.clock.test.js', 'dist/test/totp/slow.clock.test.js'], seconds: 260, lane: true },
    ]);
    expect(plan(files, durations, 1)).to.deep.equal([{ files: [...files].sort(), seconds: 350, lane: false }]);
  });

  it("keeps of a shard's summary its counts and each failure's title and first error line, not the stack", async () => {
    const { headline } = await load();
    const summary = [
      '  542 passing (35m)',
      '  1 failing',
      '',
      '  1) batches end to end',
      '       runs 200 jobs:',
      '     Error: 14 of 200 jobs still open',
      '      at waitForJobs (test/support/system-harness.ts:112:38)',
      '',
      '  2) a hook',
      '       "after all" hook:',
      '     Error: Timeout of 480000ms exceeded.',
      '      at listOnTimeout (node:internal/timers:573:17)',
    ];
    expect(headline(summary)).to.deep.equal([
      '542 passing (35m)',
      '1 failing',
      '1) batches end to end',
      '   runs 200 jobs:',
      '   Error: 14 of 200 jobs still open',
      '2) a hook',
      '   "after all" hook:',
      '   Error: Timeout of 480000ms exceeded.',
    ]);
  });

  it('stops a shard that runs past TEST_SHARD_TIMEOUT_MIN, fails the run and names where it was', async function () {
    this.timeout(60_000);
    // A project of two test files: one passes, one never ends.
    const root = join(testRoot(), uniquePrefix('shards'));
    mkdirSync(join(root, 'dist', 'test'), { recursive: true });
    symlinkSync(join(process.cwd(), 'node_modules'), join(root, 'node_modules'));
    writeFileSync(join(root, '.mocharc.cjs'), "module.exports = { spec: process.env.MOCHA_SPEC.split(','), timeout: 0, exit: true };\n");
    writeFileSync(join(root, 'dist', 'test', 'quick.test.js'), "describe('quick', () => { it('passes', () => {}); });\n");
    writeFileSync(join(root, 'dist', 'test', 'stuck.test.js'), "describe('stuck suite', () => { it('never ends', () => new Promise(() => {})); });\n");
    const script = `import(${JSON.stringify(pathToFileURL(join(process.cwd(), 'scripts', 'test-shards.mjs')).href)}).then(async (m) => process.exit(await m.runShards({ root: ${JSON.stringify(root)}, env: { ...process.env, TEST_SHARD_TIMEOUT_MIN: '0.05' }, shards: 2 })))`;
    const run = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: root }).then(
      ({ stdout }) => ({ code: 0, stdout }),
      (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }),
    );
    expect(run.code, run.stdout).to.equal(1);
    expect(run.stdout).to.match(/still running after 0\.05 min \(TEST_SHARD_TIMEOUT_MIN\): stopping it/);
    expect(run.stdout).to.match(/stopped after 0\.05 min; its last lines:\n\[\d\]    stuck suite/);
    expect(run.stdout).to.match(/1 passing/);
  });
});
