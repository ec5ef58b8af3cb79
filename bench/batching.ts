/**
 * Batching benchmark: N validation jobs per provider through the whole system — API submit →
 * batcher → sandboxed batch processors → browser pool → practice portals — run twice in the
 * same invocation:
 *
 *   batched        BATCH_SIZE 50: one login serves up to 50 jobs (the system's default)
 *   one per job    BATCH_SIZE 1: every job is its own batch with its own login (the old way)
 *
 * Both modes run on the same machine with the same providers, the same circuits, the same
 * `<PROVIDER>_MAX_SESSIONS` and BATCH_MAX_WAIT_MS, and practice portals reset and set to
 * `login_delay_ms` 1500, `latency_ms` 50 before the mode starts. Per mode and provider it
 * records the wall time from submit to the last job completed, the portals' `logins_ok` and
 * `requests`, the batches, and each job's own time (started → completed, in Postgres).
 *
 * Portal requests per job come from the two modes' `requests` counts: the modes differ only in
 * how many batches (logins, logouts) carried the same jobs, so
 *   per batch = (R_one − R_batched) / (B_one − B_batched),   per job = (R_batched − B_batched × per batch) / N
 * and the portal-bound minimum of a job is `per job × latency_ms` (its requests one after another).
 *
 * Run: npm run bench:batching   (or npx tsc -p tsconfig.json && node dist/bench/batching.js)
 *      [--jobs 50] (per provider) [--providers octotel,openserve,metrofiber,evotel]
 *      [--modes batched,one-per-job] [--json] [--no-save]
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config/config.js';
import { providerNames } from '../src/providers/descriptors.js';
import { describeMachine, sourceState } from './support/machine.js';
import { runSystem, type ProviderRun, type SystemRun } from './support/system-run.js';

const argv = process.argv.slice(2);
function option(name: string): string | undefined {
  const i = argv.indexOf(name);
  return i < 0 ? undefined : argv[i + 1];
}
const PER_PROVIDER = Number(option('--jobs') ?? 50);
if (!Number.isInteger(PER_PROVIDER) || PER_PROVIDER < 1 || PER_PROVIDER > 9_999) throw new Error('--jobs needs a whole number from 1 to 9999 (jobs per provider)');
const PROVIDERS = (option('--providers') ?? providerNames().join(',')).split(',').map((p) => p.trim()).filter(Boolean);
for (const p of PROVIDERS) if (!providerNames().includes(p)) throw new Error(`unknown provider "${p}" (one of ${providerNames().join(', ')})`);
const asJson = argv.includes('--json');
const save = !argv.includes('--no-save');

const LOGIN_DELAY_MS = 1_500;
const LATENCY_MS = 50;
const BATCH_MAX_WAIT_MS = 2_000;
const MODE_TIMEOUT_MS = 90 * 60_000;

interface Mode {
  name: 'batched' | 'one-per-job';
  batchSize: number;
}
const ALL_MODES: Mode[] = [
  { name: 'batched', batchSize: 50 },
  { name: 'one-per-job', batchSize: 1 },
];
const MODES = ALL_MODES.filter((m) => (option('--modes') ?? 'batched,one-per-job').split(',').includes(m.name));
if (MODES.length === 0) throw new Error('--modes: batched and/or one-per-job');

interface ModeRun extends SystemRun {
  batchSize: number;
  maxSessions: Record<string, number>;
  /** wallMs / jobs: what one job costs in elapsed time when N run together. */
  wallPerJobMs: number;
}

/** One mode through the shared harness (bench/support/system-run.ts): the same circuits in both (last digits cycle 0–9). */
async function runMode(mode: Mode, dataDir: string): Promise<ModeRun> {
  const run = await runSystem({
    mode: mode.name,
    settings: { BATCH_SIZE: String(mode.batchSize), BATCH_MAX_WAIT_MS: String(BATCH_MAX_WAIT_MS) },
    portalConfig: { login_delay_ms: LOGIN_DELAY_MS, latency_ms: LATENCY_MS },
    providers: PROVIDERS,
    jobsPerProvider: PER_PROVIDER,
    dataDir,
    timeoutMs: MODE_TIMEOUT_MS,
    quiet: asJson,
  });
  return {
    ...run,
    batchSize: mode.batchSize,
    maxSessions: Object.fromEntries(run.providers.map((p) => [p.provider, p.maxSessions])),
    wallPerJobMs: run.wallMs / run.jobs,
  };
}

/** Requests per batch (login, logout …) and per job, from the two modes' request counts. */
function requestsPerJob(batched: ProviderRun, one: ProviderRun): { perBatch: number; perJob: number } | undefined {
  if (one.batches === batched.batches) return undefined;
  const perBatch = (one.requests - batched.requests) / (one.batches - batched.batches);
  return { perBatch, perJob: (batched.requests - batched.batches * perBatch) / batched.jobs };
}

async function main(): Promise<void> {
  // What ran, read at the start: uncommitted edits in the working tree are part of it, so say so.
  const source = sourceState();
  const root = mkdtempSync(join(tmpdir(), 'rpa-bench-batching-'));
  // As root, Postgres runs as the postgres user, which must be able to reach its folder.
  chmodSync(root, 0o755);
  const runs: ModeRun[] = [];
  try {
    for (const mode of MODES) {
      if (!asJson) process.stderr.write(`${mode.name}: BATCH_SIZE ${mode.batchSize}, ${PER_PROVIDER} validation jobs × ${PROVIDERS.join(', ')}\n`);
      runs.push(await runMode(mode, join(root, 'data')));
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }

  const batched = runs.find((r) => r.mode === 'batched');
  const one = runs.find((r) => r.mode === 'one-per-job');
  const portalBound = PROVIDERS.map((provider) => {
    const b = batched?.providers.find((p) => p.provider === provider);
    const o = one?.providers.find((p) => p.provider === provider);
    const requests = b && o ? requestsPerJob(b, o) : undefined;
    return {
      provider,
      requestsPerBatch: requests?.perBatch ?? null,
      requestsPerJob: requests?.perJob ?? null,
      minimumPerJobMs: requests ? requests.perJob * LATENCY_MS : null,
      batchedJobMeanMs: b?.jobMeanMs ?? null,
      onePerJobJobMeanMs: o?.jobMeanMs ?? null,
    };
  });
  const ratios =
    batched && one
      ? {
          logins: one.logins / batched.logins,
          wall: one.wallMs / batched.wallMs,
          perProviderWall: Object.fromEntries(PROVIDERS.map((p) => [p, one.providers.find((x) => x.provider === p)!.wallMs / batched.providers.find((x) => x.provider === p)!.wallMs])),
          targets: { logins: 10, wall: 3 },
        }
      : null;
  const machine = describeMachine(loadConfig().chromiumPath);

  const result = {
    date: new Date().toISOString(),
    settings: { jobsPerProvider: PER_PROVIDER, providers: PROVIDERS, action: 'validation', loginDelayMs: LOGIN_DELAY_MS, latencyMs: LATENCY_MS, batchMaxWaitMs: BATCH_MAX_WAIT_MS },
    machine,
    source,
    runs,
    portalBound,
    ratios,
  };
  if (save) {
    const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `batching-${result.date.slice(0, 10)}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    if (!asJson) process.stderr.write(`results written to ${file}\n`);
  }
  if (asJson) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }

  const s = (ms: number) => (ms / 1000).toFixed(1);
  const pad = (cells: (string | number)[], widths: number[]) => cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]!) : String(c).padStart(widths[i]!))).join(' ');
  const widths = [24, 6, 6, 8, 8, 9, 10, 11, 12];
  console.log(`${PER_PROVIDER} validation jobs per provider, login_delay_ms ${LOGIN_DELAY_MS}, latency_ms ${LATENCY_MS}, BATCH_MAX_WAIT_MS ${BATCH_MAX_WAIT_MS}`);
  console.log(pad(['mode / provider', 'jobs', 'failed', 'batches', 'logins', 'requests', 'wall s', 'wall/job ms', 'job mean ms'], widths));
  for (const run of runs) {
    console.log(pad([`${run.mode} (BATCH_SIZE ${run.batchSize})`, run.jobs, run.failed, run.batches, run.logins, run.requests, s(run.wallMs), run.wallPerJobMs.toFixed(0), ''], widths));
    for (const p of run.providers) {
      console.log(pad([`  ${p.provider} (${run.maxSessions[p.provider]} sessions)`, p.jobs, p.failed, p.batches, p.logins, p.requests, s(p.wallMs), (p.wallMs / p.jobs).toFixed(0), p.jobMeanMs.toFixed(0)], widths));
    }
  }
  const ms = (v: number | null) => (v === null ? '-' : `${(v / 1000).toFixed(1)} s`);
  console.log('from submit to (first batch created → first batch started → first job started, i.e. after its login):');
  for (const run of runs) {
    console.log(`  ${run.mode}: ${run.providers.map((p) => `${p.provider} ${ms(p.firstBatchCreatedMs)} → ${ms(p.firstBatchStartedMs)} → ${ms(p.firstJobStartedMs)}`).join('; ')}`);
  }
  if (portalBound.some((p) => p.requestsPerJob !== null)) {
    console.log(`portal-bound minimum per job (requests per job × ${LATENCY_MS} ms) against each job's own time (started → completed):`);
    console.log(pad(['provider', 'req/batch', 'req/job', 'min ms', 'batched ms', 'one/job ms'], [12, 10, 8, 8, 11, 11]));
    for (const p of portalBound) {
      const f = (v: number | null, d = 0) => (v === null ? '-' : v.toFixed(d));
      console.log(pad([p.provider, f(p.requestsPerBatch, 2), f(p.requestsPerJob, 2), f(p.minimumPerJobMs), f(p.batchedJobMeanMs), f(p.onePerJobJobMeanMs)], [12, 10, 8, 8, 11, 11]));
    }
  }
  if (ratios) {
    const mark = (v: number, target: number) => `${v.toFixed(1)}x (target ≥ ${target}x: ${v >= target ? 'met' : 'MISSED'})`;
    console.log(`one-per-job / batched: logins ${mark(ratios.logins, 10)}, wall time ${mark(ratios.wall, 3)}`);
    console.log(`wall time by provider: ${Object.entries(ratios.perProviderWall).map(([p, r]) => `${p} ${r.toFixed(1)}x`).join(', ')}`);
  }
  console.log(`source: ${source.commit}${source.uncommittedFiles > 0 ? ` + ${source.uncommittedFiles} uncommitted file(s)` : ''}`);
  console.log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB, Linux ${machine.kernel}, Node ${machine.node}, playwright-core ${machine.playwrightCore}, ${machine.chromium}; load at start ${runs.map((r) => `${r.mode} ${r.loadAverageAtStart}`).join('; ')}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
