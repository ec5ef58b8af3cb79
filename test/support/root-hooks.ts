import { relative } from 'node:path';
import { stopSharedServices } from './shared-services.js';

/** Milliseconds of test time per file, for test/durations.json (scripts/test-shards.mjs). */
const fileTimes = new Map<string, number>();

/** Mocha root hooks (loaded through .mocharc.cjs `require`). */
export const mochaHooks = {
  afterEach(this: Mocha.Context) {
    const test = this.currentTest;
    if (!process.env.MOCHA_FILE_TIMES || !test?.file) return;
    const file = relative(process.cwd(), test.file);
    fileTimes.set(file, (fileTimes.get(file) ?? 0) + (test.duration ?? 0));
  },
  async afterAll(this: Mocha.Context) {
    this.timeout(60_000);
    await stopSharedServices();
    for (const [file, ms] of fileTimes) console.log(`rpa-test-file-time ${file} ${Math.max(1, Math.round(ms / 1000))}`);
  },
};
