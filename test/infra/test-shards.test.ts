import { expect } from 'chai';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

interface Shards {
  deal(files: string[], durations: Record<string, number>, shards: number): { files: string[]; seconds: number }[];
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
});
