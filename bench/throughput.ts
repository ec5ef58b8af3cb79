/**
 * Throughput near the portal's limit (issue 16): an ISP's morning of validations through the whole
 * system (API → batcher → sandboxed batch processors → browser pool → practice portals), in one
 * invocation, three times:
 *
 *   baseline     the old behaviour of this code: one page per session (<P>_PAGES_PER_SESSION=1),
 *                one batch filled first (BATCH_SPREAD=fill), cold children (BATCH_WARM_CHILDREN=0)
 *   throughput   this code's defaults: the backlog split over the free sessions, several pages per
 *                login, warm children
 *   cpu-bound    throughput again with the portals answering at once (latency_ms 0): how fast this
 *                machine can go at all, the CPU-bound ceiling
 *
 * Every mode: 100 validations per provider over the four (circuits …100000 to …100099, last digits
 * spread 0–9), BATCH_SIZE 100 (so the old way puts a provider's backlog into one batch, as in the
 * issue), the default <P>_MAX_SESSIONS (2); portals reset and set to latency_ms 300 (0 for
 * cpu-bound), login_delay_ms 3000, max_sessions 5.
 *
 * Per mode and provider: wall time (submit → last job completed), jobs/s, logins (the portal's
 * logins_ok), batches, each job's own time (started → completed), what a batch paid before its
 * first job (time to a logged-in session, of it the wait for TOTP steps), the portal's requests.
 *
 * The portal-bound ideal of a provider is `login_delay + (jobs / (sessions × pages)) ×
 * requests_per_job × latency`, with requests per job derived from the two 300 ms modes' request
 * counts (they differ in batches only: per batch = ΔR / ΔB, per job = (R − B × per batch) / jobs).
 * The limit is the larger of the slowest provider's ideal and the CPU-bound wall time.
 *
 * Run: npm run bench:throughput   (or npx tsc -p tsconfig.json && node dist/bench/throughput.js)
 *      [--jobs 100] (per provider) [--modes baseline,throughput,cpu-bound] [--json] [--no-save]
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
const option = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const PER_PROVIDER = Number(option('--jobs') ?? 100);
if (!Number.isInteger(PER_PROVIDER) || PER_PROVIDER < 1 || PER_PROVIDER > 9_999) throw new Error('--jobs needs a whole number from 1 to 9999 (jobs per provider)');
const PROVIDERS = providerNames().filter((p) => ['octotel', 'openserve', 'metrofiber', 'evotel'].includes(p));
const asJson = argv.includes('--json');
const save = !argv.includes('--no-save');

const LATENCY_MS = 300;
const LOGIN_DELAY_MS = 3_000;
const PORTAL_MAX_SESSIONS = 5;
const BATCH_SIZE = 100;
const MODE_TIMEOUT_MS = 30 * 60_000;

type ModeName = 'baseline' | 'throughput' | 'cpu-bound';
const OLD_WAY: Record<string, string> = {
  BATCH_SPREAD: 'fill',
  BATCH_WARM_CHILDREN: '0',
  ...Object.fromEntries(PROVIDERS.map((p) => [`${p.toUpperCase()}_PAGES_PER_SESSION`, '1'])),
};
const ALL_MODES: Array<{ name: ModeName; settings: Record<string, string>; latencyMs: number }> = [
  { name: 'baseline', settings: OLD_WAY, latencyMs: LATENCY_MS },
  { name: 'throughput', settings: {}, latencyMs: LATENCY_MS },
  { name: 'cpu-bound', settings: {}, latencyMs: 0 },
];
const MODES = ALL_MODES.filter((m) => (option('--modes') ?? 'baseline,throughput,cpu-bound').split(',').includes(m.name));

/** Requests per batch and per job of a provider, from two runs that differ in how many batches carried the same jobs. */
function requestsPerJob(a: ProviderRun | undefined, b: ProviderRun | undefined): { perBatch: number; perJob: number } | undefined {
  if (!a || !b || a.batches === b.batches) return undefined;
  const perBatch = (b.requests - a.requests) / (b.batches - a.batches);
  return { perBatch, perJob: (a.requests - a.batches * perBatch) / a.jobs };
}

async function main(): Promise<void> {
  const source = sourceState();
  const machine = describeMachine(loadConfig({ env: {} }).chromiumPath);
  const root = mkdtempSync(join(tmpdir(), 'rpa-bench-throughput-'));
  // As root, Postgres runs as the postgres user, which must be able to reach its folder.
  chmodSync(root, 0o755);
  const runs: SystemRun[] = [];
  try {
    for (const mode of MODES) {
      if (!asJson) process.stderr.write(`${mode.name}: ${PER_PROVIDER} validations × ${PROVIDERS.join(', ')}, latency_ms ${mode.latencyMs}, ${JSON.stringify(mode.settings)}\n`);
      runs.push(
        await runSystem({
          mode: mode.name,
          settings: { BATCH_SIZE: String(BATCH_SIZE), ...mode.settings },
          portalConfig: { latency_ms: mode.latencyMs, login_delay_ms: LOGIN_DELAY_MS, max_sessions: PORTAL_MAX_SESSIONS },
          providers: PROVIDERS,
          jobsPerProvider: PER_PROVIDER,
          dataDir: join(root, `data-${mode.name}`),
          timeoutMs: MODE_TIMEOUT_MS,
          quiet: asJson,
        }),
      );
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }

  const run = (name: ModeName) => runs.find((r) => r.mode === name);
  const base = run('baseline');
  const fast = run('throughput');
  const cpu = run('cpu-bound');
  const ideal = PROVIDERS.map((provider) => {
    const b = base?.providers.find((p) => p.provider === provider);
    const f = fast?.providers.find((p) => p.provider === provider);
    const requests = requestsPerJob(b, f);
    const sessions = f?.maxSessions ?? 0;
    const pages = f?.pagesPerSession ?? 0;
    const idealMs = requests && f ? LOGIN_DELAY_MS + (f.jobs / (sessions * pages)) * requests.perJob * LATENCY_MS : null;
    return {
      provider,
      sessions,
      pages,
      requestsPerBatch: requests?.perBatch ?? null,
      requestsPerJob: requests?.perJob ?? null,
      idealMs,
      measuredMs: f?.wallMs ?? null,
      ratio: idealMs && f ? f.wallMs / idealMs : null,
    };
  });
  const portalBoundMs = Math.max(...ideal.map((i) => i.idealMs ?? 0)) || null;
  const cpuBoundMs = cpu?.wallMs ?? null;
  const limitMs = portalBoundMs === null && cpuBoundMs === null ? null : Math.max(portalBoundMs ?? 0, cpuBoundMs ?? 0);
  const verdict =
    base && fast
      ? {
          wallRatio: base.wallMs / fast.wallMs,
          wallTarget: 3,
          limitMs,
          binds: limitMs === null ? null : (cpuBoundMs ?? 0) >= (portalBoundMs ?? 0) ? 'cpu' : 'portal',
          overLimit: limitMs ? fast.wallMs / limitMs : null,
          overLimitTarget: 1.5,
          loginsWithinSessions: fast.providers.every((p) => p.logins <= p.maxSessions),
        }
      : null;
  const result = {
    date: new Date().toISOString(),
    settings: { jobsPerProvider: PER_PROVIDER, providers: PROVIDERS, action: 'validation', latencyMs: LATENCY_MS, loginDelayMs: LOGIN_DELAY_MS, portalMaxSessions: PORTAL_MAX_SESSIONS, batchSize: BATCH_SIZE },
    machine,
    source,
    runs,
    ideal,
    portalBoundMs,
    cpuBoundMs,
    cpuBoundJobsPerSecond: cpu?.jobsPerSecond ?? null,
    verdict,
  };
  if (save) {
    const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `throughput-${result.date.slice(0, 10)}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    if (!asJson) process.stderr.write(`results written to ${file}\n`);
  }
  if (asJson) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }

  const s = (ms: number | null) => (ms === null ? '-' : (ms / 1000).toFixed(1));
  const list = (values: number[]) => (values.length === 0 ? '-' : values.map((v) => (v / 1000).toFixed(1)).join('/'));
  const pad = (cells: (string | number)[], widths: number[]) => cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]!) : String(c).padStart(widths[i]!))).join(' ');
  const widths = [26, 6, 7, 7, 7, 8, 8, 8, 9, 14, 12];
  console.log(`${PER_PROVIDER} validations per provider, latency_ms ${LATENCY_MS} (cpu-bound: 0), login_delay_ms ${LOGIN_DELAY_MS}, portal max_sessions ${PORTAL_MAX_SESSIONS}, BATCH_SIZE ${BATCH_SIZE}`);
  console.log(pad(['mode / provider', 'jobs', 'failed', 'batches', 'logins', 'requests', 'wall s', 'jobs/s', 'job p50', 'to session s', 'TOTP wait s'], widths));
  for (const r of runs) {
    console.log(pad([r.mode, r.jobs, r.failed, r.batches, r.logins, r.requests, s(r.wallMs), r.jobsPerSecond.toFixed(2), '', '', ''], widths));
    for (const p of r.providers) {
      console.log(pad([`  ${p.provider} (${p.maxSessions}×${p.pagesPerSession})`, p.jobs, p.failed, p.batches, p.logins, p.requests, s(p.wallMs), (p.jobs / (p.wallMs / 1000)).toFixed(2), p.jobP50Ms.toFixed(0), list(p.toSessionMs), list(p.totpWaitMs)], widths));
    }
  }
  console.log('from submit to (first batch created → first batch taken → first job started):');
  for (const r of runs) console.log(`  ${r.mode}: ${r.providers.map((p) => `${p.provider} ${s(p.firstBatchCreatedMs)} → ${s(p.firstBatchStartedMs)} → ${s(p.firstJobStartedMs)} s`).join('; ')}`);
  console.log('portal-bound ideal = login_delay + jobs / (sessions × pages) × requests per job × latency (throughput mode):');
  console.log(pad(['provider', 'sess×pages', 'req/batch', 'req/job', 'ideal s', 'measured s', 'ratio'], [12, 11, 10, 8, 8, 11, 7]));
  for (const i of ideal) console.log(pad([i.provider, `${i.sessions}×${i.pages}`, i.requestsPerBatch?.toFixed(2) ?? '-', i.requestsPerJob?.toFixed(2) ?? '-', s(i.idealMs), s(i.measuredMs), i.ratio ? `${i.ratio.toFixed(2)}x` : '-'], [12, 11, 10, 8, 8, 11, 7]));
  for (const r of runs) {
    console.log(
      `CPU in ${r.mode} (pool browsers retired ${r.pool?.retired ?? '?'}, relaunched ${r.pool?.restarts ?? '?'}): the system's processes ${r.cpu.total.toFixed(1)} s (${((r.cpu.total / r.jobs) * 1000).toFixed(0)} ms per job; ${Object.entries(r.cpu.byKind).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}); the machine busy ${r.machineBusy.busySeconds.toFixed(1)} of ${r.machineBusy.coreSeconds.toFixed(1)} core-seconds (${((100 * r.machineBusy.busySeconds) / Math.max(1, r.machineBusy.coreSeconds)).toFixed(0)}%), in ${s(r.wallMs)} s of wall time`,
    );
  }
  if (cpu) console.log(`CPU-bound ceiling (latency 0): ${cpu.jobsPerSecond.toFixed(2)} jobs/s, ${s(cpu.wallMs)} s for ${cpu.jobs} jobs`);
  if (verdict) {
    const mark = (ok: boolean) => (ok ? 'met' : 'MISSED');
    console.log(`baseline / throughput wall time: ${verdict.wallRatio.toFixed(2)}x (target ≥ 3x: ${mark(verdict.wallRatio >= 3)})`);
    if (verdict.limitMs) console.log(`throughput wall / limit (${verdict.binds}-bound, ${s(verdict.limitMs)} s): ${verdict.overLimit!.toFixed(2)}x (target ≤ 1.5x: ${mark(verdict.overLimit! <= 1.5)})`);
    console.log(`logins per provider ≤ its sessions: ${mark(verdict.loginsWithinSessions)} (${fast!.providers.map((p) => `${p.provider} ${p.logins}/${p.maxSessions}`).join(', ')})`);
  }
  console.log(`source: ${source.commit}${source.uncommittedFiles > 0 ? ` + ${source.uncommittedFiles} uncommitted file(s)` : ''}`);
  console.log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB, Linux ${machine.kernel}, Node ${machine.node}, playwright-core ${machine.playwrightCore}, ${machine.chromium}; load ${runs.map((r) => `${r.mode} ${r.loadAverageAtStart} → ${r.loadAverageAtEnd}`).join('; ')}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
