import { Command, InvalidArgumentError, Option } from 'commander';
import { Presets, SingleBar } from 'cli-progress';
import { loadConfig } from '../config/config.js';
import type { JobAction } from '../db/schema.js';
import { RpaError } from '../errors/failures.js';
import { providerNames } from '../providers/descriptors.js';
import { readLocalAdminKey } from '../api/auth/local-admin-key.js';
import { formatTable } from './cli-table.js';
import { parseDurationMs } from './cli-options.js';
import { demoSample, MAX_DEMO_JOBS, seedSpace, type DemoJob } from './demo-sample.js';
import { ApiClient } from './submit-command.js';

const FINAL = new Set(['completed', 'failed', 'cancelled']);
const PAGE = 500;

export interface DemoOptions {
  /** API base URL. */
  api: string;
  key: string;
  jobs: number;
  timeoutMs: number;
  /** Practice portal base URLs by provider; default: GET /health's `practice_portals`. */
  portals?: Record<string, string>;
  /** Run seed (circuit numbers); default: from the clock, moved on past circuits already cancelled. */
  seed?: number;
  /** Where the live progress bar goes; none when undefined. */
  progress?: NodeJS.WritableStream;
}

/** One provider's line of the demo table (and of its JSON). */
export interface DemoProviderRow {
  provider: string;
  jobs: number;
  validations: number;
  cancellations: number;
  /** Batches that held at least one of this run's jobs. */
  batches: number;
  /** Successful logins on the portal during the run (its `logins_ok` after − before); null without its stats. */
  logins: number | null;
  /** Logins the batches themselves recorded. */
  batch_logins: number;
  completed: number;
  failed: number;
  /** Withdrawn by an operator while the demo ran. */
  withdrawn: number;
  not_found: number;
  already_cancelled: number;
  /** Cancellations this run submitted (a new reference). */
  cancelled_now: number;
  /** Completed jobs whose result is not what the circuit's last digit says (someone else changed the circuit). */
  unexpected: number;
  /** First job submitted → this provider's last job ended (server clock). */
  wall_ms: number;
}

export interface DemoReport {
  api: string;
  seed: number;
  jobs: number;
  wall_ms: number;
  providers: DemoProviderRow[];
  total: Omit<DemoProviderRow, 'provider'>;
  /** The first 20 failed jobs. */
  failures: { job_id: number; provider: string; circuit_number: string; error: { code: string; message: string } | null }[];
  /** Providers without practice-portal stats (their logins are null). */
  no_portal_stats: string[];
}

interface JobView {
  job_id: number;
  provider: string;
  status: string;
  parameters: { circuit_number: string };
  result: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
  created_at: string;
  completed_at: string | null;
}

interface BatchView {
  batch_id: number;
  logins: number;
  jobs?: { job_id: number }[];
}

interface PortalStats {
  logins_ok: number;
  cancellations: Record<string, number>;
}

/**
 * Submits a mixed sample through the API — validations and cancellations over the four
 * providers, with circuits that are not found and circuits already cancelled — waits for every
 * job to end, and reports per provider: jobs, batches, logins (the practice portals' own
 * count), completed, failed, wall time.
 */
export async function runDemo(options: DemoOptions): Promise<DemoReport> {
  const client = new ApiClient(options.api.replace(/\/+$/, ''), options.key);
  // The report reads batches: a key that may submit but not read them (submitter) is refused before anything is submitted.
  await client.call('GET', '/batches?limit=1');
  const portals = options.portals ?? (await practicePortals(client));
  const before = await portalStats(portals);
  const seed = options.seed ?? freshSeed(options.jobs, before);
  const sample = demoSample(options.jobs, seed);

  // One bulk request per provider and action; job ids come back in request order.
  const byJobId = new Map<number, DemoJob>();
  for (const provider of providerNames()) {
    for (const action of ['validation', 'cancellation'] as JobAction[]) {
      const group = sample.filter((j) => j.provider === provider && j.action === action);
      if (group.length === 0) continue;
      const res = await client.call<{ job_ids: number[] }>('POST', '/jobs/bulk', { provider, action, jobs: group.map((j) => ({ circuit_number: j.circuit_number })) });
      res.job_ids.forEach((id, i) => byJobId.set(id, group[i]!));
    }
  }

  const final = await waitForAll(client, [...byJobId.keys()], Date.now() + options.timeoutMs, options.progress);
  const after = await portalStats(portals);
  const firstCreated = Math.min(...[...final.values()].map((j) => Date.parse(j.created_at)));
  const batches = await batchesOf(client, new Set(final.keys()), new Date(firstCreated - 1_000));

  const rows = providerNames().map((provider): DemoProviderRow => {
    const jobs = [...final.values()].filter((j) => j.provider === provider);
    const count = (f: (j: JobView) => boolean) => jobs.filter(f).length;
    const completed = jobs.filter((j) => j.status === 'completed');
    const ended = jobs.map((j) => Date.parse(j.completed_at ?? j.created_at));
    const providerBatches = batches.filter((b) => b.provider === provider);
    return {
      provider,
      jobs: jobs.length,
      validations: count((j) => byJobId.get(j.job_id)!.action === 'validation'),
      cancellations: count((j) => byJobId.get(j.job_id)!.action === 'cancellation'),
      batches: providerBatches.length,
      logins: before[provider] && after[provider] ? after[provider]!.logins_ok - before[provider]!.logins_ok : null,
      batch_logins: providerBatches.reduce((a, b) => a + b.logins, 0),
      completed: completed.length,
      failed: count((j) => j.status === 'failed'),
      withdrawn: count((j) => j.status === 'cancelled'),
      not_found: completed.filter((j) => j.result?.found === false).length,
      already_cancelled: completed.filter((j) => j.result?.already_cancelled === true).length,
      cancelled_now: completed.filter((j) => j.result?.cancelled === true && j.result?.already_cancelled === false).length,
      unexpected: completed.filter((j) => !asExpected(byJobId.get(j.job_id)!, j.result ?? {})).length,
      wall_ms: jobs.length === 0 ? 0 : Math.max(...ended) - firstCreated,
    };
  });
  const sum = (key: keyof Omit<DemoProviderRow, 'provider' | 'logins' | 'wall_ms'>) => rows.reduce((a, r) => a + r[key], 0);
  const wall = Math.max(...rows.map((r) => r.wall_ms));
  const loginsKnown = rows.every((r) => r.logins !== null);
  return {
    api: options.api,
    seed,
    jobs: final.size,
    wall_ms: wall,
    providers: rows,
    total: {
      jobs: sum('jobs'),
      validations: sum('validations'),
      cancellations: sum('cancellations'),
      batches: sum('batches'),
      logins: loginsKnown ? rows.reduce((a, r) => a + r.logins!, 0) : null,
      batch_logins: sum('batch_logins'),
      completed: sum('completed'),
      failed: sum('failed'),
      withdrawn: sum('withdrawn'),
      not_found: sum('not_found'),
      already_cancelled: sum('already_cancelled'),
      cancelled_now: sum('cancelled_now'),
      unexpected: sum('unexpected'),
      wall_ms: wall,
    },
    failures: [...final.values()]
      .filter((j) => j.status === 'failed')
      .slice(0, 20)
      .map((j) => ({ job_id: j.job_id, provider: j.provider, circuit_number: j.parameters.circuit_number, error: j.error })),
    no_portal_stats: providerNames().filter((p) => !before[p] || !after[p]),
  };
}

/** The table `rpa demo` prints, then the notes under it. */
export function formatDemoReport(report: DemoReport): string {
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const line = (name: string, r: Omit<DemoProviderRow, 'provider'>) => [
    name,
    String(r.jobs),
    `${r.validations}/${r.cancellations}`,
    String(r.batches),
    r.logins === null ? '-' : String(r.logins),
    String(r.completed),
    String(r.failed),
    String(r.not_found),
    String(r.already_cancelled),
    String(r.cancelled_now),
    seconds(r.wall_ms),
  ];
  const table = formatTable(
    ['provider', 'jobs', 'valid/cancel', 'batches', 'logins', 'completed', 'failed', 'not found', 'already cancelled', 'cancelled now', 'wall time'],
    [...report.providers.map((r) => line(r.provider, r)), line('total', report.total)],
  );
  const notes: string[] = [];
  notes.push(`${report.jobs} job(s) through ${report.api} in ${seconds(report.wall_ms)}; logins are the practice portals' own count (logins_ok before and after), batches those that held this run's jobs.`);
  if (report.no_portal_stats.length > 0) notes.push(`no practice-portal stats for ${report.no_portal_stats.join(', ')} (real portals, or GET /health names none): logins shown as -.`);
  if (report.total.withdrawn > 0) notes.push(`${report.total.withdrawn} job(s) were withdrawn by an operator while the demo ran.`);
  if (report.total.unexpected > 0) notes.push(`${report.total.unexpected} completed job(s) did not match what their circuit number stands for (seeded or changed on the portal by someone else).`);
  for (const f of report.failures) notes.push(`failed ${f.job_id} ${f.provider} ${f.circuit_number}: ${f.error?.code ?? ''} ${f.error?.message ?? ''}`.trimEnd());
  return `${table}${notes.join('\n')}\n`;
}

/** `rpa demo [--jobs 200] [--json]` against a running system (`npm start`). */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('submit a mixed sample (both actions, the four providers, some not found, some already cancelled) through the API, show progress, then a table per provider')
    .addOption(new Option('--jobs <n>', 'how many jobs').default(200).argParser(parseJobs))
    .addOption(new Option('--timeout <duration>', 'give up waiting after this long (30m, 2h …)').default(30 * 60_000, '30m').argParser(parseDurationMs))
    .option('--api <url>', 'API base URL (default http://127.0.0.1:$PORT)')
    .option('--key <key>', 'API key (default $RPA_API_KEY, else the local admin key file)')
    .option('--json', 'print JSON (no progress bar)')
    .action(async (options: { jobs: number; timeout: number; api?: string; key?: string; json?: boolean }) => {
      const config = loadConfig();
      const api = (options.api ?? `http://127.0.0.1:${config.port}`).replace(/\/+$/, '');
      const key = options.key ?? readLocalAdminKey(config);
      if (!key) throw new RpaError('UNAUTHENTICATED', 'no API key: pass --key, set RPA_API_KEY, or start the system once so it writes its local admin key');
      const report = await runDemo({ api, key, jobs: options.jobs, timeoutMs: options.timeout, progress: options.json ? undefined : process.stderr });
      // Failed jobs are part of the report, not a command failure (exit 0), as with `rpa submit --wait`.
      process.stdout.write(options.json ? `${JSON.stringify(report)}\n` : formatDemoReport(report));
    });
}

function parseJobs(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_DEMO_JOBS) throw new InvalidArgumentError(`expected a whole number from 1 to ${MAX_DEMO_JOBS}`);
  return n;
}

/** The practice portals the running system advertises on GET /health (`practice_portals`). */
async function practicePortals(client: ApiClient): Promise<Record<string, string>> {
  type Health = { practice_portals?: Record<string, string> | null };
  const health = await client.call<Health>('GET', '/health').catch((error: unknown): Health => {
    // /health answers 503 when a dependency is down; the demo would fail on submit anyway.
    if (error instanceof RpaError && /\(503\)/.test(error.message)) return {};
    throw error;
  });
  return health.practice_portals ?? {};
}

/** Each portal's control-API stats; a portal that does not answer is left out. */
async function portalStats(portals: Record<string, string>): Promise<Record<string, PortalStats>> {
  const entries = await Promise.all(
    Object.entries(portals).map(async ([provider, url]) => {
      try {
        const res = await fetch(`${url.replace(/\/+$/, '')}/__sandbox/stats`, { signal: AbortSignal.timeout(10_000) });
        return res.ok ? ([[provider, (await res.json()) as PortalStats]] as const) : [];
      } catch {
        return [];
      }
    }),
  );
  return Object.fromEntries(entries.flat());
}

/**
 * A seed whose circuits no earlier run has cancelled on these portals (their `cancellations`),
 * starting from the clock so that runs differ.
 */
function freshSeed(jobs: number, stats: Record<string, PortalStats>): number {
  const space = seedSpace(jobs);
  const start = Math.floor(Date.now() / 1000) % space;
  for (let i = 0; i < space; i++) {
    const seed = (start + i) % space;
    const used = demoSample(jobs, seed).some((j) => (stats[j.provider]?.cancellations[j.circuit_number] ?? 0) > 0);
    if (!used) return seed;
  }
  throw new RpaError('CONFLICT', 'every demo circuit number of this size was cancelled already: reset the practice portals (POST /__sandbox/reset) or restart the system');
}

/** Polls the jobs (newest first, in pages) until all have ended; a progress bar when asked. */
async function waitForAll(client: ApiClient, ids: number[], deadline: number, stream?: NodeJS.WritableStream): Promise<Map<number, JobView>> {
  const wanted = new Set(ids);
  const newest = Math.max(...ids);
  const oldest = Math.min(...ids);
  const bar = stream ? new SingleBar({ format: 'demo [{bar}] {value}/{total} jobs finished | {duration_formatted}', stream, hideCursor: true, noTTYOutput: true, notTTYSchedule: 5_000 }, Presets.shades_classic) : undefined;
  bar?.start(ids.length, 0);
  try {
    for (;;) {
      const done = new Map<number, JobView>();
      let cursor = newest + 1;
      for (;;) {
        const page = await client.call<{ jobs: JobView[]; next_cursor: string | null }>('GET', `/jobs?cursor=${cursor}&limit=${PAGE}`);
        for (const job of page.jobs) if (wanted.has(job.job_id) && FINAL.has(job.status)) done.set(job.job_id, job);
        const last = page.jobs.at(-1);
        if (!page.next_cursor || !last || last.job_id <= oldest) break;
        cursor = last.job_id;
      }
      bar?.update(done.size);
      if (done.size === ids.length) return done;
      if (Date.now() > deadline) throw new RpaError('SERVICE_UNAVAILABLE', `gave up waiting: ${ids.length - done.size} of ${ids.length} job(s) still unfinished (see rpa jobs list)`);
      // A referenced timer: with nothing else pending, an unreferenced one would let the process end here.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  } finally {
    bar?.stop();
  }
}

/** The batches created since `since` that held at least one of `jobIds`, with their provider. */
async function batchesOf(client: ApiClient, jobIds: Set<number>, since: Date): Promise<(BatchView & { provider: string })[]> {
  const found: (BatchView & { provider: string })[] = [];
  let cursor: string | null = null;
  do {
    const page: { batches: (BatchView & { provider: string })[]; next_cursor: string | null } = await client.call('GET', `/batches?since=${encodeURIComponent(since.toISOString())}&limit=${PAGE}${cursor ? `&cursor=${cursor}` : ''}`);
    for (const batch of page.batches) {
      const detail = await client.call<BatchView>('GET', `/batches/${batch.batch_id}`);
      if (detail.jobs?.some((j) => jobIds.has(j.job_id))) found.push({ ...batch, logins: detail.logins });
    }
    cursor = page.next_cursor;
  } while (cursor);
  return found;
}

/** Whether a completed job's result is what its circuit's last digit says (SPEC.md "Circuit data"). */
function asExpected(job: DemoJob, result: Record<string, unknown>): boolean {
  switch (job.expect) {
    case 'not-found':
      return result.found === false;
    case 'found':
      return result.found === true && result.status !== 'cancelled';
    case 'cancelled':
      return result.found === true && result.status === 'cancelled';
    case 'cancel':
      return result.cancelled === true && result.already_cancelled === false;
    case 'already-cancelled':
      return result.already_cancelled === true;
  }
}
