import type { Server } from 'node:http';
import { once } from 'node:events';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import { createApiApp } from './api/api-app.js';
import { startHealthServer } from './api/health-server.js';
import { createOperatorRouters } from './api/operator-routers.js';
import { healthDetailsAccess } from './api/auth/authenticate.js';
import { RateLimits } from './api/rate-limits.js';
import { BatchReaper } from './processors/batch-reaper.js';
import { watchDatabase } from './processors/database-watch.js';
import { LoginCircuitBreaker } from './processors/login-circuit-breaker.js';
import { ProviderPauses } from './processors/provider-pauses.js';
import { providerHealth } from './processors/provider-health.js';
import { ProviderCalendar } from './processors/provider-calendar.js';
import { OverdueJobs } from './processors/overdue-jobs.js';
import { startCanaryWorker } from './processors/canary-worker.js';
import { createBatchRuntime, type BatchRuntime } from './processors/batch-runtime.js';
import { PausedQueues } from './queues/paused-queues.js';
import { browserRoleOptions, createFleet, processPoolToken } from './browser/browser-options.js';
import { PoolClient } from './browser/client/pool-client.js';
import { PoolDirectory } from './browser/client/pool-directory.js';
import { assertSamePlaywrightVersion } from './browser/client/playwright-version.js';
import type { Fleet } from './browser/fleet/fleet.js';
import { startBrowserRole, type BrowserRole } from './browser/pool/browser-role.js';
import { coerceError } from './errors/coerce-error.js';
import { CallbackEnqueuer } from './callbacks/callback-enqueuer.js';
import { startCallbackWorker, type CallbackWorkerHandle } from './callbacks/callback-worker.js';
import { callbackPolicyFromConfig } from './callbacks/callback-url-guard.js';
import type { Config, ProcessRole } from './config/config.js';
import { LiveSettings } from './config/live-settings.js';
import { childEnvironment, freezeRuntime, type Runtime } from './config/runtime.js';
import { describeValkey, type ValkeyEndpoint } from './config/valkey-endpoint.js';
import { createDb, type Db } from './db/database.js';
import { createEvidenceStore } from './evidence/evidence-store-factory.js';
import type { EvidenceStore } from './evidence/evidence-store.js';
import { migrateToLatest } from './db/migrate.js';
import { JobSubmission } from './jobs/job-submission.js';
import type { Logger } from './logger.js';
import { startPracticePortals, type PracticePortals } from './portals/practice-portals.js';
import { BatchFlowProducer } from './queues/batch-flow.js';
import { Batcher } from './queues/batcher.js';
import { BatchSizer, batchSizeViews } from './queues/batch-sizer.js';
import { PortalPaceStore } from './queues/portal-pace.js';
import { startMaintenanceWorker } from './processors/maintenance-worker.js';
import { JobEnqueuer } from './queues/job-enqueuer.js';
import { maintenanceQueue, providerJobsQueue } from './queues/queue-names.js';
import { QueueRegistry } from './queues/queue-registry.js';
import { Sweeper } from './queues/sweeper.js';
import { watchValkeyResets } from './queues/valkey-resets.js';
import { createValkey, type ValkeyClient } from './queues/valkey.js';
import { lockDataDir } from './infra/data-dir-lock.js';
import { startInfrastructure, type Infrastructure } from './infra/infrastructure.js';
import { assertWritableDataDir, portTaken, preflight, usesEmbeddedServices, usesServices } from './infra/preflight.js';
import { repeatEvery } from './infra/repeat-every.js';
import { startBatchWorkers, type BatchWorkers } from './processors/batch-workers.js';

export interface System {
  config: Config;
  /** Where the services answer, the portals' URLs, the browser pool: what this start found out. */
  runtime?: Runtime;
  apiUrl?: string;
  /** Where /health/* answer in a process without the api role (worker, batcher, maintenance). */
  healthUrl?: string;
  /** This worker's member of the fleet (election; pools when it leads), when it has neither BROWSER_POOL_URL nor the browser role. */
  fleet?: Fleet;
  portals?: PracticePortals;
  browser?: BrowserRole;
  db?: Db;
  queues?: QueueRegistry;
  close(): Promise<void>;
}

export interface StartSystemOptions {
  /** Write `<data>/services.json` so `rpa` commands find the embedded services. */
  advertise?: boolean;
  /** Overrides for the sandboxed processor (tests). */
  processorFile?: string;
  callbackBackoffBaseMs?: number;
  /** How often the batcher role re-queues callbacks whose queue job is gone (default 60 s). */
  callbackSweepMs?: number;
  /**
   * Whether the batcher role runs the batch reaper (default true). A test of what an operator does
   * with a stranded batch turns it off: the reaper would hand the same jobs back first.
   */
  reaper?: boolean;
}

const has = (config: Config, ...roles: ProcessRole[]) => roles.some((r) => config.roles.includes(r));

/**
 * Starts the roles named in RPA_ROLES in this process: practice portals (when a provider has
 * no URL), the browser pool, the API, the batchers with the sweeper, the batch and callback
 * workers. Embedded Postgres and Valkey are started when no URL is configured. Without the api
 * role, /health/* are served alone on PORT. A worker with neither BROWSER_POOL_URL nor the
 * browser role takes part in the fleet (one worker decides how many pools run, BROWSER_MANAGER_MODE
 * says where); its batch children lease from the pools in the pool directory.
 * `close()` stops everything in reverse order, each step even when an earlier one failed.
 */
export async function startSystem(config: Config, logger: Logger, options: StartSystemOptions = {}): Promise<System> {
  // What this start finds out, frozen into system.runtime once every role is up.
  const found: { databaseUrl?: string; valkey?: ValkeyEndpoint; portalUrls: Record<string, string>; browserPool?: { url: string; token: string }; poolTokens?: Record<string, string> } = {
    portalUrls: Object.fromEntries(Object.values(config.providers).flatMap((p) => (p.url ? [[p.descriptor.name, p.url]] : []))),
    browserPool: config.browserPool.url && config.browserPool.token ? { url: config.browserPool.url, token: config.browserPool.token } : undefined,
  };
  const closers: Array<() => Promise<unknown>> = [];
  const system: System = {
    config,
    close: async () => {
      for (const close of closers.reverse()) {
        await close().catch((err: unknown) => logger.error({ err }, 'shutdown step failed'));
      }
      closers.length = 0;
    },
  };

  try {
    if (usesEmbeddedServices(config)) {
      // First, so a second start on the same folder is refused before it touches anything.
      assertWritableDataDir(config.dataDir);
      const lock = await lockDataDir(config.dataDir);
      closers.push(() => lock.release());
    }
    await preflight(config);
    if (usesServices(config)) {
      const infra: Infrastructure = await startInfrastructure(config, logger, { advertise: options.advertise });
      closers.push(() => infra.close());
      found.databaseUrl = infra.databaseUrl;
      found.valkey = infra.valkey;
      if (config.valkey) logger.info({ valkey: describeValkey(config.valkey) }, `Valkey: ${config.valkey.mode === 'server' ? 'one server' : config.valkey.mode === 'sentinel' ? 'the master of a Sentinel group, followed through failovers' : 'a Valkey Cluster'}`);
      // A request must not hang while Postgres is out: it answers 503 within ~2 s.
      const db = createDb(infra.databaseUrl, { connectTimeoutMs: 2_000 });
      closers.push(() => db.destroy());
      const applied = await migrateToLatest(db);
      if (applied.length > 0) logger.info({ migrations: applied }, 'database migrated');
      system.db = db;
    }

    if (has(config, 'portals')) {
      const practice = Object.values(config.providers).filter((p) => p.practice);
      if (practice.length > 0) {
        const portals = await startPracticePortals({
          portals: Object.fromEntries(practice.map((p) => [p.descriptor.name, { port: p.practicePort, account: { login: p.login, password: p.password, totpSecret: p.totpSecret } }])),
          host: '127.0.0.1',
          logger,
        });
        closers.push(() => portals.close());
        Object.assign(found.portalUrls, portals.urls);
        system.portals = portals;
        logger.warn(
          { portals: portals.urls },
          `PRACTICE PORTALS: ${practice.map((p) => p.descriptor.label).join(', ')} run against the built-in practice portals, not the real FNOs (set <PROVIDER>_URL to use a real portal)`,
        );
      }
    }

    const poolToken = processPoolToken(config);
    const startRole = async (registration?: Parameters<typeof browserRoleOptions>[3]) => {
      const browser = await startBrowserRole(browserRoleOptions(config, poolToken, logger, registration));
      closers.push(() => browser.close());
      found.browserPool ??= { url: browser.url, token: browser.token };
      system.browser = browser;
      return browser;
    };
    // Without Valkey here, the pool is for others to reach by URL (a pool pod, `RPA_ROLES=browser`).
    if (has(config, 'browser') && !system.db) await startRole();

    if (!system.db) {
      system.runtime = freezeRuntime({ portalUrls: found.portalUrls, browserPool: found.browserPool });
      return system;
    }
    const db = system.db;
    const connect = (kind: 'worker' | 'producer'): ValkeyClient => {
      const client = createValkey(found.valkey!, kind);
      closers.push(async () => client.disconnect());
      return client;
    };
    const workerConnection = connect('worker');
    const queues = new QueueRegistry(workerConnection, config.queuePrefix);
    closers.push(() => queues.close());
    system.queues = queues;
    // The pool directory and the fleet election fail fast while Valkey is away (no offline queue).
    let browserValkey: ValkeyClient | undefined;
    const directoryConnection = async (): Promise<ValkeyClient> => {
      if (!browserValkey) {
        browserValkey = connect('producer');
        await once(browserValkey, 'ready', { signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
      }
      return browserValkey;
    };
    if (has(config, 'browser')) {
      // In a process with Valkey the pool registers itself in the directory (npm start).
      const id = `browser-role-${hostname()}-${process.pid}`;
      await startRole({ directory: new PoolDirectory({ redis: await directoryConnection(), prefix: config.queuePrefix }), id, registeredBy: id });
    }
    const enqueuer = new JobEnqueuer(db, queues, logger);
    const callbacks = new CallbackEnqueuer(db, queues, logger);
    const breaker = new LoginCircuitBreaker(workerConnection, config.queuePrefix, config.loginFailureThreshold, config.loginCooldownMs, logger);
    const live = new LiveSettings(config, logger).watch();
    closers.push(async () => live.close());
    if (live.liveNames().length > 0) logger.info({ live: live.liveNames() }, 'these settings follow their SECRETS_DIR files while the system runs; every other setting needs a restart to change');
    const pauses = new ProviderPauses(db, config.loginFailureThreshold, (p) => live.credentials(p), logger);
    const calendar = new ProviderCalendar(db, config.providers, logger);
    const pausedQueues = new PausedQueues(queues, logger);
    // Until when a provider's batches are held back: paused (until resumed), cooling down after a
    // failed login, or closed by a maintenance window or its business hours.
    const heldUntil = async (provider: string) => {
      const paused = (await pauses.pausedFor(config.providers[provider]!)) !== undefined;
      await pausedQueues.mirror(provider, paused).catch((err: unknown) => logger.warn({ err: coerceError(err).toJSON(), provider }, 'could not mirror the provider\'s pause on its queues'));
      if (paused) return Number.MAX_SAFE_INTEGER;
      return Math.max((await breaker.state(provider)).openUntil, await calendar.heldUntil(provider));
    };
    let batchWorkers: BatchWorkers | undefined;
    /** What to put back in Valkey when it comes back empty. */
    const restorers: Array<() => Promise<void>> = [];
    const healthDetails = async () => {
      const breakers = await Promise.all(Object.keys(config.providers).map((p) => breaker.state(p)));
      return {
        providers: await providerHealth(db, breakers, calendar),
        circuit_breakers: Object.fromEntries(breakers.map((b) => [b.provider, b])),
        batch_processors: batchWorkers?.health() ?? null,
        ...(system.fleet ? { browsers: await system.fleet.health() } : {}),
        // Where `rpa demo` reads the practice portals' stats (loopback URLs; null with real portals).
        practice_portals: system.portals?.urls ?? null,
      };
    };

    let fixedPool: PoolClient | undefined;
    if (has(config, 'worker') && !config.browserPool.url) {
      if (system.browser) {
        // The pool this process serves (npm start): the children find it in the directory.
        found.poolTokens = { [system.browser.tokenId]: system.browser.token };
      } else {
        // No pool given and no browser role here: this worker takes part in the fleet. Whichever
        // worker leads starts the pools (pods in a cluster, processes on this machine) and
        // registers them; every worker's children lease from the pools in the directory.
        const fleet = createFleet(config, poolToken, { redis: await directoryConnection(), queues, db, logger });
        closers.push(() => fleet.close());
        system.fleet = fleet;
        await fleet.start();
        found.poolTokens = { [poolToken.id]: poolToken.token };
      }
    } else if (has(config, 'worker') && found.browserPool) {
      fixedPool = new PoolClient({ url: found.browserPool.url, token: found.browserPool.token, requestTimeoutMs: 2_000, logger });
      const client = fixedPool;
      closers.push(() => client.close());
    }
    // A worker is ready when its batches can get browsers: the fleet works, or the fixed pool answers.
    const browsersReady = async (): Promise<{ ok: boolean; error?: string }> => {
      if (system.fleet) return system.fleet.ready();
      if (!fixedPool) return { ok: true };
      try {
        assertSamePlaywrightVersion((await fixedPool.status()).playwrightVersion);
        return { ok: true };
      } catch (err) {
        return { ok: false, error: coerceError(err).message };
      }
    };
    // The API serves evidence and retention deletes it; the batch children upload their own.
    let evidenceStore: EvidenceStore | undefined;
    if (has(config, 'api', 'maintenance')) {
      const store = createEvidenceStore(config);
      closers.push(() => store.close());
      evidenceStore = store;
      await store.check().catch((err: unknown) => logger.error({ err: coerceError(err).toJSON(), store: store.kind }, 'the evidence store cannot be written; jobs run, but their evidence will be missing until it can'));
    }
    // Evidence URLs in callbacks: PUBLIC_BASE_URL, else the API of this process once it listens.
    const publicBaseUrl = () => config.publicBaseUrl ?? system.apiUrl ?? `http://127.0.0.1:${config.port}`;
    if (has(config, 'worker') && !has(config, 'api') && !config.publicBaseUrl) {
      logger.warn('PUBLIC_BASE_URL is not set in a process without the api role: the evidence URLs in its callbacks will point at this process, not at the API; set it to the API\'s address as ORDS reaches it');
    }
    const readiness = has(config, 'worker') ? async () => ({ browsers: await browsersReady() }) : undefined;
    const runtime = freezeRuntime({ databaseUrl: found.databaseUrl, valkey: found.valkey, portalUrls: found.portalUrls, browserPool: found.browserPool, poolTokens: found.poolTokens });
    system.runtime = runtime;

    if (has(config, 'worker')) {
      const callbackWorker: CallbackWorkerHandle = startCallbackWorker({
        db,
        connection: workerConnection,
        basePrefix: config.queuePrefix,
        secret: () => live.callbackSecret(),
        allowHosts: config.callbackAllowHosts,
        allowPorts: config.callbackAllowPorts,
        logger,
        backoffBaseMs: options.callbackBackoffBaseMs,
        publicBaseUrl,
      });
      closers.push(() => callbackWorker.close());
      batchWorkers = await startBatchWorkers({
        providers: Object.values(config.providers).map((p) => ({ name: p.descriptor.name, maxSessions: p.maxSessions })),
        db,
        connection: workerConnection,
        queues,
        basePrefix: config.queuePrefix,
        childEnv: childEnvironment(config, runtime),
        finalizer: { enqueue: (items) => enqueuer.enqueue(items), jobsEnded: (ids) => callbacks.enqueueForJobs(ids) },
        logger,
        processorFile: options.processorFile,
        lockDurationMs: config.batchLockDurationMs,
        warmChildren: config.batchWarmChildren,
      });
      closers.push(() => batchWorkers!.close());
      restorers.push(() => batchWorkers!.restoreSessionCaps());
      // The contract canary a resume asks for, in a runtime of its own like a batch processor's.
      let canaryRuntime: BatchRuntime | undefined;
      const canaries = startCanaryWorker({
        connection: workerConnection,
        basePrefix: config.queuePrefix,
        canary: (provider) => (canaryRuntime ??= createBatchRuntime(config, runtime, logger.child({ component: 'canary' }))).canary(provider),
        logger,
      });
      closers.push(async () => {
        await canaries.close();
        await canaryRuntime?.close();
      });
      const dbWatch = watchDatabase({ db, hold: () => batchWorkers!.hold(), resume: () => batchWorkers!.resume(), logger: logger.child({ component: 'database-watch' }) });
      closers.push(() => dbWatch.close());
    }

    if (has(config, 'batcher')) {
      const flows = new BatchFlowProducer(workerConnection, config.queuePrefix);
      closers.push(() => flows.close());
      const paces = new PortalPaceStore(workerConnection, config.queuePrefix);
      for (const provider of Object.values(config.providers)) {
        const sizer = new BatchSizer(provider.descriptor.name, config.batchSize, paces, logger);
        const batcher = new Batcher({
          provider: provider.descriptor.name,
          db,
          connection: workerConnection,
          basePrefix: config.queuePrefix,
          batchSize: config.batchSize,
          maxWaitMs: config.batchMaxWaitMs,
          spread: config.batchSpread,
          maxSessions: provider.maxSessions,
          pagesPerSession: provider.pagesPerSession,
          sizeFor: () => sizer.size(),
          flows,
          heldUntil,
          logger,
        });
        await batcher.start();
        closers.push(() => batcher.close());
      }
      const sweeper = new Sweeper(db, queues, enqueuer, logger);
      sweeper.start();
      closers.push(() => sweeper.close());
      const overdue = new OverdueJobs(db, (ids) => callbacks.enqueueForJobs(ids), logger);
      overdue.start();
      closers.push(() => overdue.close());
      // Batches no live run holds (a worker died or froze, Valkey lost their run): settled once.
      const reaper = new BatchReaper({
        db,
        queues,
        enqueue: (items) => enqueuer.enqueue(items),
        jobsEnded: (ids) => callbacks.enqueueForJobs(ids),
        logger: logger.child({ component: 'batch-reaper' }),
        quietAfterMs: Math.max(30_000, 3 * config.batchLockDurationMs),
      });
      if (options.reaper !== false) reaper.start();
      closers.push(() => reaper.close());
      // Callbacks of jobs that ended while Valkey was unreachable, or whose queue entry was lost.
      const callbackSweep = repeatEvery(options.callbackSweepMs ?? 60_000, () => callbacks.enqueuePending(), { logger, what: 'callback sweep' });
      closers.push(() => callbackSweep.close());
    }

    if (has(config, 'maintenance')) {
      const maintenance = await startMaintenanceWorker({
        db,
        connection: workerConnection,
        queues,
        submission: new JobSubmission(db, enqueuer, config.jobMaxAttempts, logger),
        callbackPolicy: callbackPolicyFromConfig(config),
        retentionDays: config.retentionDays,
        evidence: evidenceStore!,
        evidenceDir: config.evidenceDir,
        logger,
      });
      closers.push(() => maintenance.close());
      restorers.push(() => maintenance.restoreSchedulers());
    }
    if (restorers.length > 0) {
      // Valkey is not the truth: what it lost (a restart without data, FLUSHALL) is put back.
      const resets = watchValkeyResets({
        redis: workerConnection,
        keys: [...Object.keys(config.providers).map((p) => providerJobsQueue(config.queuePrefix, p).prefix), maintenanceQueue(config.queuePrefix).prefix].map((tag) => `${tag}:valkey-marker`),
        restore: async () => {
          for (const restore of restorers) await restore();
        },
        logger,
      });
      closers.push(() => resets.close());
    }

    if (has(config, 'api')) {
      const producer = connect('producer');
      const apiQueues = new QueueRegistry(producer, config.queuePrefix);
      closers.push(() => apiQueues.close());
      const apiEnqueuer = new JobEnqueuer(db, apiQueues, logger);
      const apiPaces = new PortalPaceStore(producer, config.queuePrefix);
      const batchSizes = () => batchSizeViews(apiPaces, Object.keys(config.providers), config.batchSize);
      const limits = new RateLimits({ redis: producer, prefix: config.queuePrefix, settings: config.rateLimits, logger: logger.child({ component: 'rate-limits' }) });
      const operator = createOperatorRouters({
        config,
        runtime,
        db,
        queues: apiQueues,
        valkey: producer,
        calendar,
        evidenceStore,
        providerHealth: async () => (await healthDetails()).providers,
        logger,
        limits,
        batchSizes,
      });
      const app = createApiApp({
        limits,
        trustProxy: config.trustProxy,
        publicRouters: operator.publicRouters,
        routers: operator.routers,
        db,
        bootstrapKey: config.apiKey,
        submission: new JobSubmission(db, apiEnqueuer, config.jobMaxAttempts, logger),
        callbackPolicy: callbackPolicyFromConfig(config),
        evidenceStore,
        batchSizes,
        onJobWithdrawn: (id) => new CallbackEnqueuer(db, apiQueues, logger).enqueueForJobs([id]).catch((err: unknown) => logger.warn({ err, job_id: id }, 'callback not queued yet')),
        health: {
          db,
          valkey: producer,
          queues: apiQueues,
          details: healthDetails,
          readyNeeds: ['postgres'],
          readiness,
        },
        logger,
      });
      const server: Server = await new Promise((resolve, reject) => {
        const s = app.listen(config.port, config.host, () => resolve(s));
        s.once('error', (error: NodeJS.ErrnoException) => reject(error.code === 'EADDRINUSE' ? portTaken(config.port, config.host, 'PORT', error) : error));
      });
      closers.push(
        () =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeIdleConnections();
          }),
      );
      // Runs before the server closes: ends open /events streams so close() does not wait on them.
      closers.push(() => operator.close());
      const address = server.address() as AddressInfo;
      system.apiUrl = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${address.port}`;
      logger.info({ url: system.apiUrl }, 'API listening');
    } else {
      // Kubernetes probes every orchestrator pod on /health/*; without the API, serve those alone.
      // Last, as the API is: a pod is Ready once every role of it has started.
      const health = await startHealthServer({
        port: config.port,
        host: config.host,
        health: { db, valkey: connect('producer'), queues, details: healthDetails, readiness, detailsAccess: healthDetailsAccess(db, config.apiKey), logger },
        logger,
      });
      closers.push(() => health.close());
      system.healthUrl = health.url;
    }
    return system;
  } catch (error) {
    await system.close();
    throw error;
  }
}
