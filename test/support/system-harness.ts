import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/config.js';
import { providerEvents } from '../../src/db/provider-store.js';
import type { Logger } from '../../src/logger.js';
import { startSystem, type StartSystemOptions, type System } from '../../src/system.js';
import { createTestDatabase, type TestDatabase } from './test-database.js';
import { sharedValkey, testLogger, testRoot, uniquePrefix } from './shared-services.js';

export const SYSTEM_API_KEY = 'system-test-admin-key-0123456789abcdef';
export const CALLBACK_SECRET = 'system-test-callback-secret-0123456789';

export interface SystemHarness {
  system: System;
  database: TestDatabase;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  portal(provider: string, method: string, path: string, body?: unknown): Promise<any>;
  close(): Promise<void>;
}

/**
 * The whole system in this process (every role), over a fresh database and queue prefix, on the
 * shared Valkey unless `env` names another (VALKEY_URL, or Sentinel or Cluster settings:
 * `valkeySettingsFor(endpoint)`).
 */
export async function startSystemHarness(env: Record<string, string> = {}, harnessOptions: StartSystemOptions & { logger?: Logger } = {}): Promise<SystemHarness> {
  const { logger = testLogger, ...options } = harnessOptions;
  const database = await createTestDatabase({ migrate: false });
  const ownValkey = ['VALKEY_URL', 'VALKEY_SENTINELS', 'VALKEY_CLUSTER_NODES'].some((name) => env[name] !== undefined);
  const config = loadConfig({
    env: {
      RPA_DATA_DIR: join(testRoot(), uniquePrefix('data')),
      DATABASE_URL: database.url,
      ...(ownValkey ? {} : { VALKEY_URL: (await sharedValkey()).url }),
      QUEUE_PREFIX: uniquePrefix('sys'),
      RPA_API_KEY: SYSTEM_API_KEY,
      CALLBACK_SECRET,
      CALLBACK_ALLOW_HOSTS: '127.0.0.1:*',
      PORT: '0',
      HOST: '127.0.0.1',
      BATCH_MAX_WAIT_MS: '1000',
      JOB_RETRY_BASE_MS: '200',
      BROWSER_POOL_SIZE: '2',
      // The practice Octotel accepts the current step ± 1 (SPEC.md's totp_window default) and
      // refuses a step used before: a login may take the next step early instead of waiting 30 s for it.
      OCTOTEL_TOTP_LOOKAHEAD: '1',
      // A sandboxed child is forked when a batch needs it, not two per provider at every start:
      // most tests use one or two providers, and ten children loading at once cost the suite's CPU.
      BATCH_WARM_CHILDREN: '0',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      ...env,
    },
  });
  const system = await startSystem(config, logger, { callbackBackoffBaseMs: 200, ...options });
  const json = async (res: Response) => {
    const text = await res.text();
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  };
  return {
    system,
    database,
    async api(method, path, body) {
      const res = await fetch(system.apiUrl + path, {
        method,
        headers: { authorization: `Bearer ${SYSTEM_API_KEY}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: await json(res) };
    },
    async portal(provider, method, path, body) {
      const url = system.runtime!.portalUrls[provider]!;
      const res = await fetch(url + path, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      return json(res);
    },
    async close() {
      await system.close();
      await database.drop();
    },
  };
}

export interface CallbackReceiver {
  url: string;
  received: { headers: Record<string, string | string[] | undefined>; body: string }[];
  close(): Promise<void>;
}

/** A loopback HTTP server standing in for ORDS' callback endpoint. */
export async function startCallbackReceiver(): Promise<CallbackReceiver> {
  const received: CallbackReceiver['received'] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ords/callback`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * What a reader of a CI log needs of jobs that did not end: each one's state with its batch's,
 * every unfinished batch of their providers (a batch holding a session forever keeps the rest
 * waiting), the last batches that ended (their errors) and what may hold the providers back.
 */
async function whereStuck(harness: SystemHarness, openIds: string[]): Promise<string> {
  const { db } = harness.database;
  const jobs = await db
    .selectFrom('jobs')
    .leftJoin('batches', 'batches.id', 'jobs.batch_id')
    .select(['jobs.id', 'jobs.provider', 'jobs.status', 'jobs.attempts', 'jobs.batch_id', 'jobs.available_at', 'jobs.error', 'batches.status as batch_status'])
    .where('jobs.id', 'in', openIds)
    .orderBy('jobs.id')
    .execute();
  const providers = [...new Set(jobs.map((j) => j.provider))];
  const batches = await db
    .selectFrom('batches')
    .select(['id', 'provider', 'status', 'size', 'completed_count', 'login_count', 'heartbeat_at', 'created_at', 'started_at'])
    .where('provider', 'in', providers)
    .where('status', 'not in', ['completed', 'failed'])
    .execute();
  const counts = (queue: { getJobCounts(): Promise<Record<string, number>> } | undefined) => queue?.getJobCounts().catch((err: Error) => err.message);
  const queues = await Promise.all(
    providers.map(async (p) => [p, { jobs: await counts(harness.system.queues?.providerJobs(p)), runs: await counts(harness.system.queues?.batchRuns(p)) }] as const),
  );
  // Why a provider's batcher may hold its jobs back: /health's providers (a pause, refused logins,
  // contract mismatches, a closed window) and breakers, and what happened to each provider last.
  const events = Object.fromEntries(await Promise.all(providers.map(async (p) => [p, await providerEvents(db, p, 5)] as const)));
  const ended = await db
    .selectFrom('batches')
    .select(['id', 'provider', 'status', 'size', 'completed_count', 'failed_count', 'returned_count', 'login_count', 'error', 'finished_at'])
    .where('provider', 'in', providers)
    .where('status', 'in', ['completed', 'failed'])
    .orderBy('finished_at', 'desc')
    .limit(5)
    .execute();
  const health = await harness.api('GET', '/health').catch((err: Error) => ({ body: err.message }));
  const ofStuck = (all: Record<string, unknown> | undefined) => Object.fromEntries(providers.map((p) => [p, all?.[p]]));
  const held = { circuit_breakers: ofStuck(health.body?.circuit_breakers), providers: ofStuck(health.body?.providers) };
  return JSON.stringify({ jobs: jobs.slice(0, 20), unfinished_batches: batches, queues: Object.fromEntries(queues), provider_events: events, last_ended_batches: ended, held, now: new Date().toISOString() });
}

/** Polls until every job id has ended (completed, failed or cancelled), or throws after `timeoutMs`. */
export async function waitForJobs(harness: SystemHarness, ids: number[], timeoutMs: number): Promise<Map<number, any>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await harness.database.db.selectFrom('jobs').select(['id', 'status']).where('id', 'in', ids.map(String)).execute();
    const open = rows.filter((r) => !['completed', 'failed', 'cancelled'].includes(r.status));
    if (open.length === 0) break;
    if (Date.now() > deadline) throw new Error(`${open.length} of ${ids.length} jobs still open: ${await whereStuck(harness, open.map((r) => r.id))}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const jobs = new Map<number, any>();
  for (const id of ids) jobs.set(id, (await harness.api('GET', `/jobs/${id}`)).body);
  return jobs;
}

/** Polls until no batch of the harness's database is open: a batch is closed by its flow's parent after its last job ends. */
export async function waitForBatchesClosed(harness: SystemHarness, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await harness.database.db.selectFrom('batches').select(['id', 'status']).where('status', 'not in', ['completed', 'failed']).execute();
    if (open.length === 0) return;
    if (Date.now() > deadline) throw new Error(`batches still open after ${timeoutMs} ms: ${JSON.stringify(open)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
