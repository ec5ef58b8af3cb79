import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Redis } from 'iovalkey';
import { PoolClient } from '../../src/browser/client/pool-client.js';
import { startPoolServer, type PoolServer } from '../../src/browser/pool/pool-server.js';
import { loadConfig, type Config, type ProviderConfig } from '../../src/config/config.js';
import { defaultChromiumPath } from '../../src/config/settings.js';
import { findBatch } from '../../src/db/batch-store.js';
import { insertJobs, type JobRow } from '../../src/db/job-store.js';
import { createBatchWithJobs } from '../../src/db/job-transitions.js';
import { findPause, pauseProvider, providerEvents, resumeProvider, storeWindows } from '../../src/db/provider-store.js';
import type { JobParameters } from '../../src/db/schema.js';
import { totpStepLedger } from '../../src/db/totp-step-store.js';
import { EvidenceRecorder } from '../../src/evidence/evidence-recorder.js';
import { FsEvidenceStore } from '../../src/evidence/fs-evidence-store.js';
import { startPracticePortal, type PracticePortal } from '../../src/portals/practice-portals.js';
import { BatchRunner, type BatchRunnerDeps } from '../../src/processors/batch-runner.js';
import { ContractDrift } from '../../src/processors/contract-drift.js';
import { LoginCircuitBreaker } from '../../src/processors/login-circuit-breaker.js';
import { ProviderCalendar } from '../../src/processors/provider-calendar.js';
import { ProviderPauses } from '../../src/processors/provider-pauses.js';
import { automationFor } from '../../src/providers/registry.js';
import { JobEnqueuer } from '../../src/queues/job-enqueuer.js';
import { QueueRegistry } from '../../src/queues/queue-registry.js';
import { createValkey } from '../../src/queues/valkey.js';
import { TotpManager } from '../../src/totp/totp-manager.js';
import { totpSettingsFromConfig } from '../../src/totp/totp-settings.js';
import { sharedValkey, testLogger, testRoot, uniquePrefix } from '../support/shared-services.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

/**
 * The batch runner's paths, one batch at a time, on real parts: Postgres, Valkey, a browser pool
 * with Chromium and the Evotel practice portal. Each test builds its batch in Postgres and runs it.
 */
describe('BatchRunner', function () {
  this.timeout(120_000);
  let database: TestDatabase;
  let redis: Redis;
  let portal: PracticePortal;
  let pool: PoolServer;
  let client: PoolClient;
  let queues: QueueRegistry;
  let config: Config;
  let ended: string[];
  let serial = 0;

  before(async () => {
    database = await createTestDatabase();
    redis = createValkey((await sharedValkey()).url, 'worker');
    config = loadConfig({ env: { QUEUE_PREFIX: uniquePrefix('runner'), EVOTEL_DRIFT_THRESHOLD: '2', RPA_DATA_DIR: join(testRoot(), uniquePrefix('runner')) } });
    queues = new QueueRegistry(redis, config.queuePrefix);
    const provider = config.providers.evotel!;
    portal = await startPracticePortal('evotel', { port: 0, account: { login: provider.login, password: provider.password }, logger: testLogger });
    const token = randomBytes(24).toString('hex');
    pool = await startPoolServer({ size: 1, chromiumPath: defaultChromiumPath() ?? '/usr/bin/chromium', token, host: '127.0.0.1', maxContextsPerBrowser: 4, retireAfterContexts: 100, maxMemoryMb: 4096, logger: testLogger });
    client = new PoolClient({ url: pool.url, token, logger: testLogger });
  });
  after(async () => {
    await client?.close();
    await pool?.close();
    await portal?.close();
    await queues?.close();
    redis?.disconnect();
    await database?.drop();
  });
  beforeEach(async () => {
    ended = [];
    await fetch(`${portal.url}/__sandbox/reset`, { method: 'POST' });
    await resumeProvider(database.db, 'evotel', 'test', 'clean slate').catch(() => undefined);
    await storeWindows(database.db, 'evotel', null, 'test');
  });

  const runner = (overrides: Partial<BatchRunnerDeps> = {}) => {
    const { db } = database;
    const credentials = (p: ProviderConfig) => ({ login: p.login, password: p.password, totpSecret: p.totpSecret });
    return new BatchRunner({
      db,
      providers: config.providers,
      portalUrls: { evotel: portal.url },
      automationFor,
      pool: client,
      totp: new TotpManager({ redis, logger: testLogger, ledger: totpStepLedger(db), ...totpSettingsFromConfig(config) }),
      breaker: new LoginCircuitBreaker(redis, config.queuePrefix, 3, 60_000, testLogger),
      pauses: new ProviderPauses(db, 3, credentials, testLogger),
      credentials,
      evidence: new EvidenceRecorder(new FsEvidenceStore(join(testRoot(), 'runner-evidence'))),
      enqueue: (items) => new JobEnqueuer(db, queues, testLogger).enqueue(items),
      jobsEnded: async (ids) => void ended.push(...ids),
      logger: testLogger,
      workerName: 'runner-test',
      retryBaseMs: 100,
      drift: new ContractDrift(db, testLogger),
      calendar: new ProviderCalendar(db, config.providers, testLogger, 0),
      canaryAtStart: true,
      ...overrides,
    });
  };

  /** A batch of evotel validations (circuits ending in 1: active) in Postgres, as the batcher makes one. */
  const batchOf = async (count: number, parameters: Partial<JobParameters> = {}) => {
    const circuits = Array.from({ length: count }, () => `EVO8${String(++serial).padStart(4, '0')}1`);
    const ids = await insertJobs(
      database.db,
      circuits.map((circuit_number) => ({
        provider: 'evotel',
        action: 'validation' as const,
        parameters: { circuit_number, ...parameters },
        callbackUrl: null,
        externalId: null,
        requestHash: circuit_number,
        submittedBy: 'test',
        maxAttempts: 3,
      })),
    );
    const batch = (await createBatchWithJobs(database.db, 'evotel', ids.map((jobId) => ({ jobId, trip: 0 })), 'test'))!;
    return { batchId: batch.batchId, ids };
  };
  const jobsOf = (ids: string[]): Promise<JobRow[]> => database.db.selectFrom('jobs').selectAll().where('id', 'in', ids).orderBy('id').execute();
  const portalConfig = (body: object) => fetch(`${portal.url}/__sandbox/config`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('runs every job of the batch with one login, writing each end as it happens, and reports progress', async () => {
    const { batchId, ids } = await batchOf(3);
    const progress: unknown[] = [];
    const summary = await runner().run(batchId, async (p) => void progress.push(p));
    expect(summary).to.deep.include({ completed: 3, failed: 0, returned: 0, logins: 1 });
    expect(progress).to.deep.equal([1, 2, 3].map((done) => ({ done, total: 3, logins: 1 })));
    for (const job of await jobsOf(ids)) {
      expect(job.status).to.equal('completed');
      expect(job.result).to.include({ found: true, status: 'active', circuit_number: job.circuit_number });
      expect(job.attempts).to.equal(1);
    }
    expect(ended.sort()).to.deep.equal([...ids].sort());
    expect((await findBatch(database.db, batchId))?.started_at).to.be.instanceOf(Date);
    // Running it again finds nothing to do.
    expect((await runner().run(batchId)).completed).to.equal(0);
  });

  it('pauses the provider at once when the canary page does not match, and hands every job back unstarted', async () => {
    await portalConfig({ drift: true });
    const { batchId, ids } = await batchOf(2);
    const summary = await runner().run(batchId);
    expect(summary).to.include({ skipped: 'paused', returned: 2, completed: 0, failed: 0 });
    expect(await findPause(database.db, 'evotel')).to.include({ reason: 'contract_drift' });
    for (const job of await jobsOf(ids)) expect(job).to.include({ status: 'pending', attempts: 0, batch_id: null });
    const paused = (await providerEvents(database.db, 'evotel')).find((e) => e.kind === 'paused')!;
    expect(paused.details).to.include({ reason: 'contract_drift', canary: true });
    expect(paused.details?.selector).to.be.a('string').that.is.not.empty;
  });

  /** The providers with evotel's batches on `pages` pages of their session. */
  const onPages = (pages: number) => ({ ...config.providers, evotel: { ...config.providers.evotel!, pagesPerSession: pages } });

  it('without the canary, pauses at the drift threshold in a row: the jobs met wait with their attempt given back, the rest are handed back', async () => {
    await portalConfig({ drift: true });
    const { batchId, ids } = await batchOf(3);
    // One page: the jobs meet the changed portal one after another, in batch order.
    const summary = await runner({ canaryAtStart: false, providers: onPages(1) }).run(batchId);
    expect(summary).to.include({ completed: 0, failed: 0, returned: 3, skipped: 'paused' });
    const [first, second, third] = await jobsOf(ids);
    // The first mismatch is that job's own until a second one in a row: it retries later (attempt 1 spent).
    expect(first).to.include({ status: 'pending', attempts: 1 });
    expect(first!.error?.code).to.equal('PAGE_CONTRACT_MISMATCH');
    expect(second).to.include({ status: 'pending', attempts: 0 });
    expect(third).to.include({ status: 'pending', attempts: 0 });
    expect(await findPause(database.db, 'evotel')).to.include({ reason: 'contract_drift' });
  });

  it('on pages, a drift pause stops every page: the jobs on pages wait with their attempt given back, those not started are handed back', async () => {
    await portalConfig({ drift: true });
    const { batchId, ids } = await batchOf(6);
    const summary = await runner({ canaryAtStart: false, providers: onPages(4) }).run(batchId);
    expect(summary).to.include({ completed: 0, failed: 0, returned: 6, skipped: 'paused' });
    const jobs = await jobsOf(ids);
    for (const job of jobs) expect(job).to.include({ status: 'pending', batch_id: null });
    // Four met the changed portal at once: the first mismatch counted is that job's own (a retry,
    // its attempt spent); the others came at the threshold or past it. A page freed by a mismatch
    // before the threshold (3) was counted may take another job; the rest never started.
    expect(jobs.map((j) => j.attempts).sort()).to.deep.equal([0, 0, 0, 0, 0, 1]);
    const met = jobs.filter((j) => j.error?.code === 'PAGE_CONTRACT_MISMATCH').length;
    expect(met).to.be.within(4, 6);
    expect(jobs.filter((j) => j.error === null)).to.have.length(6 - met);
    expect(await findPause(database.db, 'evotel')).to.include({ reason: 'contract_drift' });
  });

  it('does not start a batch while its provider is in a maintenance window: the jobs wait until it ends', async () => {
    const ends = new Date(Date.now() + 3_600_000);
    await storeWindows(database.db, 'evotel', { time_zone: 'UTC', business_hours: null, maintenance: [{ starts_at: new Date(Date.now() - 60_000).toISOString(), ends_at: ends.toISOString() }] }, 'test');
    const { batchId, ids } = await batchOf(2);
    const summary = await runner().run(batchId);
    expect(summary).to.include({ skipped: 'closed', returned: 2, logins: 0 });
    for (const job of await jobsOf(ids)) {
      expect(job).to.include({ status: 'pending', attempts: 0 });
      expect(job.available_at.getTime()).to.equal(ends.getTime());
    }
    expect((await findBatch(database.db, batchId))?.started_at, 'a batch handed back unrun never started').to.equal(null);
    expect((await fetch(`${portal.url}/__sandbox/stats`).then((r) => r.json())).logins_ok).to.equal(0);
  });

  it('hands a paused provider\'s batch back without logging in', async () => {
    await pauseProvider(database.db, 'evotel', { reason: 'operator', message: 'test', actor: 'test' });
    const { batchId, ids } = await batchOf(2);
    expect(await runner().run(batchId)).to.include({ skipped: 'paused', returned: 2, logins: 0 });
    for (const job of await jobsOf(ids)) expect(job).to.include({ status: 'pending', attempts: 0 });
  });

  it('fails a job whose deadline passed before its turn with DEADLINE_EXCEEDED, without running it', async () => {
    const late = await batchOf(1, { deadline: new Date(Date.now() - 1_000).toISOString() });
    const summary = await runner().run(late.batchId);
    expect(summary).to.include({ failed: 1, completed: 0 });
    const [job] = await jobsOf(late.ids);
    expect(job).to.include({ status: 'failed', attempts: 0, started_at: null });
    expect(job!.error?.code).to.equal('DEADLINE_EXCEEDED');
    expect(ended).to.deep.equal(late.ids);
  });

  it('on pages, a pause mid-batch starts no more jobs: the jobs on pages finish, the rest are handed back once every page stopped', async () => {
    const { batchId, ids } = await batchOf(8);
    let paused = false;
    const summary = await runner({ providers: onPages(4) }).run(batchId, async () => {
      if (paused) return;
      paused = true;
      await pauseProvider(database.db, 'evotel', { reason: 'operator', message: 'test', actor: 'test' });
    });
    // The four taken at once finish; a page that finished while the pause was being written may
    // have taken one more before it saw it.
    expect(summary.completed).to.be.within(4, 7);
    expect(summary.completed + summary.returned).to.equal(8);
    expect(summary.logins).to.equal(1);
    for (const job of await jobsOf(ids)) {
      if (job.status === 'completed') continue;
      expect(job).to.include({ status: 'pending', attempts: 0, batch_id: null });
    }
  });

    it('makes way for a higher-priority job that has waited for a session: its remaining jobs go back', async () => {
    const { batchId, ids } = await batchOf(3, { priority: 'low' });
    const high = await insertJobs(database.db, [{ provider: 'evotel', action: 'validation', parameters: { circuit_number: 'EVO899991', priority: 'high' }, callbackUrl: null, externalId: null, requestHash: 'high', submittedBy: 'test', maxAttempts: 3 }]);
    await new Promise((r) => setTimeout(r, 50));
    const summary = await runner({ preemptAfterMs: 0 }).run(batchId);
    expect(summary).to.include({ completed: 1, returned: 2 });
    const [first, ...rest] = await jobsOf(ids);
    expect(first!.status).to.equal('completed');
    for (const job of rest) expect(job).to.include({ status: 'pending', attempts: 0, batch_id: null });
    expect((await jobsOf(high))[0]!.status).to.equal('pending');
  });
});
