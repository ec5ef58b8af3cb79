import { execFileSync } from 'node:child_process';
import { cpus, loadavg, release as osRelease, totalmem } from 'node:os';
import { PLAYWRIGHT_VERSION } from '../../src/browser/client/playwright-version.js';

/** What ran a benchmark: the machine, the versions, and the load when it started. */
export interface Machine {
  cpu: string;
  cores: number;
  memoryGb: number;
  kernel: string;
  node: string;
  playwrightCore: string;
  chromium: string;
  loadAverageAtStart: string;
}

/** `loadAtStart`: the load average read when the measuring began (default: now). */
export function describeMachine(chromiumPath: string | undefined, loadAtStart = loadAverage()): Machine {
  let chromium = 'unknown';
  try {
    chromium = execFileSync(chromiumPath ?? 'chromium', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    // Reported as unknown.
  }
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    kernel: osRelease(),
    node: process.version,
    playwrightCore: PLAYWRIGHT_VERSION,
    chromium,
    loadAverageAtStart: loadAtStart,
  };
}

export function loadAverage(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/** The commit that ran, and how many tracked files differed from it (read at the start). */
export function sourceState(): { commit: string; uncommittedFiles: number } {
  const git = (...args: string[]) => {
    try {
      return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return 'unknown';
    }
  };
  return { commit: git('rev-parse', '--short', 'HEAD'), uncommittedFiles: git('status', '--porcelain', '--untracked-files=no').split('\n').filter(Boolean).length };
}

/** Nearest rank: the smallest value with at least p% of the samples at or below it. */
export function percentile(sorted: readonly number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? 0;
}
