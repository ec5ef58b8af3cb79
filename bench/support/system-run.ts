import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { practiceCircuitNumber } from '../../src/cli/demo-sample.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { createLogger } from '../../src/logger.js';
import type { BatchRunSummary } from '../../src/processors/batch-runner.js';
import { startSystem, type System } from '../../src/system.js';
import { loadAverage, percentile } from './machine.js';
import { cpuSince, machineCpu, machineCpuSince, treeCpu, type TreeCpu } from './process-cpu.js';

/**
 * The benchmarks' harness: the whole system started in this process with `startSystem` (as
 * `npm start` does: embedded Postgres and Valkey in a folder of its own, the practice portals, a
 * browser pool, every role), validation jobs submitted through the API, Postgres polled until
 * every job has ended, and what each provider's run took read back from Postgres, the portals'
 * own stats and the batch runs' summaries. Nothing is mocked or skipped.
 */

/** One provider's part of a run. */
export interface ProviderRun {
  provider: string;
  jobs: number;
  completed: number;
  failed: number;
  batches: number;
  /** The portal's own count of completed logins (`logins_ok`). */
  logins: number;
  requests: number;
  maxSessions: number;
  pagesPerSession: number;
  /** Submit → this provider's last job completed. */
  wallMs: number;
  /** Each job's own time, started → completed (a job starts after its batch logged in). */
  jobMeanMs: number;
  jobP50Ms: number;
  /** Submit → the first batch written by the batcher / taken by a processor / its first job started (after its login). */
  firstBatchCreatedMs: number | null;
  firstBatchStartedMs: number | null;
  firstJobStartedMs: number | null;
  /** From the batch runs' summaries: time to a logged-in session (lease, TOTP step, login) and the part spent waiting for TOTP steps, per batch. */
  toSessionMs: number[];
  totpWaitMs: number[];
}

export interface SystemRun {
  mode: string;
  settings: Record<string, string>;
  portalConfig: Record<string, number>;
  jobs: number;
  completed: number;
  failed: number;
  batches: number;
  logins: number;
  requests: number;
  /** Submit → the last job completed. */
  wallMs: number;
  jobsPerSecond: number;
  providers: ProviderRun[];
  loadAverageAtStart: string;
  loadAverageAtEnd: string;
  /** CPU seconds the system's processes used from submit to the last job (Chromium, batch children, node, Postgres, Valkey). */
  cpu: TreeCpu;
  /** The whole machine over the same time (every process, other people's included): CPU seconds busy of the cores × seconds there were. */
  machineBusy: { busySeconds: number; coreSeconds: number };
  /** The browser pool's own counts since it started: browsers retired (contexts, memory) and relaunched after a crash. */
  pool: { retired: number; restarts: number } | null;
}

export interface SystemRunOptions {
  mode: string;
  /** Settings of the mode (environment variables); the sandboxed children get them too. */
  settings: Record<string, string>;
  /** `POST /__sandbox/config` of every portal, after its reset. */
  portalConfig: Record<string, number>;
  providers: readonly string[];
  jobsPerProvider: number;
  dataDir: string;
  timeoutMs: number;
  /** Circuit numbers start here (last digits spread 0–9). */
  firstCircuit?: number;
  /** Progress on stderr every 30 s. */
  quiet?: boolean;
}

async function json(method: string, url: string, body?: unknown, key?: string): Promise<any> {
  const res = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** Variables a mode may set; every one is cleared before the next mode starts. */
const modeVariables = new Set<string>();

/** Runs one mode: a fresh system, the jobs, the figures; the system is closed whatever happens. */
export async function runSystem(options: SystemRunOptions): Promise<SystemRun> {
  const apiKey = randomBytes(24).toString('base64url');
  for (const name of modeVariables) delete process.env[name];
  const settings: Record<string, string> = {
    RPA_DATA_DIR: options.dataDir,
    QUEUE_PREFIX: `bench-${options.mode}`,
    PORT: '0',
    HOST: '127.0.0.1',
    RPA_API_KEY: apiKey,
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'silent',
    ...options.settings,
  };
  for (const name of Object.keys(settings)) modeVariables.add(name);
  // The sandboxed batch children read their settings from this process's configuration, which
  // is read from the environment: the mode's settings go there.
  Object.assign(process.env, settings);
  const config: Config = loadConfig();
  for (const p of options.providers) {
    if (!config.providers[p]!.practice) throw new Error(`${p}: ${p.toUpperCase()}_URL is set; the benchmarks run against the practice portals only`);
  }
  const logger = createLogger({ level: config.logLevel, name: 'bench', destination: process.stderr });
  const system: System = await startSystem(config, logger);
  try {
    const db = system.db!;
    const portal = (p: string) => system.runtime!.portalUrls[p]!;
    for (const p of options.providers) {
      await json('POST', `${portal(p)}/__sandbox/reset`);
      await json('POST', `${portal(p)}/__sandbox/config`, options.portalConfig);
    }
    const loadAtStart = loadAverage();
    const cpuAtStart = treeCpu();
    const machineAtStart = machineCpu();
    const first = options.firstCircuit ?? 100_000;
    const t0 = Date.now();
    const submitted = await Promise.all(
      options.providers.map(async (provider) => {
        const circuits = Array.from({ length: options.jobsPerProvider }, (_, i) => practiceCircuitNumber(provider, first + i));
        const res = await json('POST', `${system.apiUrl}/jobs/bulk`, { provider, action: 'validation', jobs: circuits.map((circuit_number) => ({ circuit_number })) }, apiKey);
        return { provider, ids: (res.job_ids as number[]).map(String) };
      }),
    );
    const ids = submitted.flatMap((s) => s.ids);
    const deadline = t0 + options.timeoutMs;
    let lastShown = Date.now();
    for (;;) {
      const row = await db
        .selectFrom('jobs')
        .select((eb) => eb.fn.countAll<string>().as('open'))
        .where('id', 'in', ids)
        .where('status', 'not in', ['completed', 'failed', 'cancelled'])
        .executeTakeFirstOrThrow();
      const open = Number(row.open);
      if (open === 0) break;
      if (Date.now() > deadline) throw new Error(`${options.mode}: ${open} of ${ids.length} jobs still open after ${options.timeoutMs / 60_000} min`);
      if (!options.quiet && Date.now() - lastShown > 30_000) {
        lastShown = Date.now();
        process.stderr.write(`  ${options.mode}: ${ids.length - open}/${ids.length} jobs finished after ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
      }
      await sleep(100);
    }
    const loadAtEnd = loadAverage();
    const cpu = cpuSince(cpuAtStart, treeCpu());
    const machineBusy = machineCpuSince(machineAtStart);
    // The runs' summaries come once each batch has logged out and closed (after its last job).
    const settled = Date.now() + 60_000;
    while (Date.now() < settled) {
      const open = await db.selectFrom('batches').select('id').where('status', 'not in', ['completed', 'failed']).execute();
      if (open.length === 0) break;
      await sleep(200);
    }

    const providers: ProviderRun[] = [];
    for (const { provider, ids: providerIds } of submitted) {
      const rows = await db.selectFrom('jobs').select(['status', 'started_at', 'completed_at']).where('id', 'in', providerIds).execute();
      const { batches } = await db.selectFrom('batch_jobs').select(sql<string>`count(distinct batch_id)`.as('batches')).where('job_id', 'in', providerIds).executeTakeFirstOrThrow();
      const stats = await json('GET', `${portal(provider)}/__sandbox/stats`);
      const firsts = await db
        .selectFrom('batches')
        .select((eb) => [eb.fn.min('created_at').as('created'), eb.fn.min('started_at').as('started')])
        .where('id', 'in', db.selectFrom('batch_jobs').select('batch_id').where('job_id', 'in', providerIds))
        .executeTakeFirstOrThrow();
      const since = (at: unknown) => (at ? new Date(at as string).getTime() - t0 : null);
      const starts = rows.filter((r) => r.started_at).map((r) => new Date(r.started_at!).getTime());
      const durations = rows
        .filter((r) => r.status === 'completed' && r.started_at && r.completed_at)
        .map((r) => new Date(r.completed_at!).getTime() - new Date(r.started_at!).getTime())
        .sort((a, b) => a - b);
      const lastDone = Math.max(...rows.map((r) => (r.completed_at ? new Date(r.completed_at).getTime() : t0)));
      const runs = await system.queues!.batchRuns(provider).getJobs(['completed'], 0, -1);
      const summaries = runs.map((j) => j.returnvalue as BatchRunSummary).filter((s) => s?.timings);
      providers.push({
        provider,
        jobs: providerIds.length,
        completed: rows.filter((r) => r.status === 'completed').length,
        failed: rows.filter((r) => r.status !== 'completed').length,
        batches: Number(batches),
        logins: stats.logins_ok,
        requests: stats.requests,
        maxSessions: config.providers[provider]!.maxSessions,
        pagesPerSession: config.providers[provider]!.pagesPerSession,
        wallMs: lastDone - t0,
        jobMeanMs: durations.reduce((a, b) => a + b, 0) / Math.max(1, durations.length),
        jobP50Ms: percentile(durations, 50),
        firstBatchCreatedMs: since(firsts.created),
        firstBatchStartedMs: since(firsts.started),
        firstJobStartedMs: starts.length > 0 ? Math.min(...starts) - t0 : null,
        toSessionMs: summaries.map((s) => s.timings!.toSessionMs),
        totpWaitMs: summaries.map((s) => s.timings!.totpWaitMs),
      });
    }
    const pool = system.runtime?.browserPool
      ? await json('GET', `${system.runtime.browserPool.url}/status`, undefined, system.runtime.browserPool.token).then(
          (status) => ({ retired: Number(status.retired), restarts: Number(status.restarts) }),
          () => null,
        )
      : null;
    const sum = (f: (p: ProviderRun) => number) => providers.reduce((a, p) => a + f(p), 0);
    const wallMs = Math.max(...providers.map((p) => p.wallMs));
    return {
      mode: options.mode,
      settings: options.settings,
      portalConfig: options.portalConfig,
      jobs: ids.length,
      completed: sum((p) => p.completed),
      failed: sum((p) => p.failed),
      batches: sum((p) => p.batches),
      logins: sum((p) => p.logins),
      requests: sum((p) => p.requests),
      wallMs,
      jobsPerSecond: ids.length / (wallMs / 1000),
      providers,
      loadAverageAtStart: loadAtStart,
      loadAverageAtEnd: loadAtEnd,
      cpu,
      machineBusy,
      pool,
    };
  } finally {
    await system.close();
  }
}
