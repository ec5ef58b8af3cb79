import { hostname } from 'node:os';
import { createBrowserSource } from '../browser/browser-options.js';
import type { Config, ProviderConfig } from '../config/config.js';
import type { Runtime } from '../config/runtime.js';
import { LiveSettings } from '../config/live-settings.js';
import { createDb, type Db } from '../db/database.js';
import { totpStepLedger } from '../db/totp-step-store.js';
import { RpaError } from '../errors/failures.js';
import { createEvidenceStore } from '../evidence/evidence-store-factory.js';
import { EvidenceRecorder } from '../evidence/evidence-recorder.js';
import type { Logger } from '../logger.js';
import { automationFor } from '../providers/registry.js';
import { CallbackEnqueuer } from '../callbacks/callback-enqueuer.js';
import { JobEnqueuer } from '../queues/job-enqueuer.js';
import { PortalPaceStore } from '../queues/portal-pace.js';
import { QueueRegistry } from '../queues/queue-registry.js';
import { createValkey, type ValkeyClient } from '../queues/valkey.js';
import { TotpManager } from '../totp/totp-manager.js';
import { totpSettingsFromConfig } from '../totp/totp-settings.js';
import { BatchRunner } from './batch-runner.js';
import { runCanary, type CanaryVerdict } from './contract-canary.js';
import { ContractDrift } from './contract-drift.js';
import { ProviderCalendar } from './provider-calendar.js';
import { LoginCircuitBreaker } from './login-circuit-breaker.js';
import { ProviderPauses } from './provider-pauses.js';

export interface BatchRuntime {
  runner: BatchRunner;
  /** The contract canary on a session of its own (a resume after contract drift asks it). */
  canary(provider: string): Promise<CanaryVerdict>;
  db: Db;
  close(): Promise<void>;
}

/**
 * Everything a batch run needs, built from configuration: what a sandboxed processor child
 * makes once and keeps for the batches it runs. Needs DATABASE_URL, VALKEY_URL and a way to
 * browsers: the pool tokens of the pools in the directory (Runtime.poolTokens), or the fixed
 * pool of BROWSER_POOL_URL. The worker role passes them to its children in their Runtime.
 */
export function createBatchRuntime(config: Config, runtime: Runtime, logger: Logger): BatchRuntime {
  const need = <T>(value: T | undefined, name: string): T => {
    if (!value) throw new RpaError('CONFIG_INVALID', `${name}: required by the batch processor`, { field: name });
    return value;
  };
  // A batch's pages write their jobs' starts, ends and submits at once, beside the heartbeat.
  const pages = Math.max(1, ...Object.values(config.providers).map((p) => p.pagesPerSession));
  const db = createDb(need(runtime.databaseUrl, 'DATABASE_URL'), { max: Math.max(4, pages + 2) });
  const live = new LiveSettings(config, logger).watch();
  const valkey: ValkeyClient = createValkey(need(runtime.valkey, 'VALKEY_URL'), 'worker');
  const queues = new QueueRegistry(valkey, config.queuePrefix);
  const enqueuer = new JobEnqueuer(db, queues, logger);
  const callbacks = new CallbackEnqueuer(db, queues, logger);
  const pool = createBrowserSource(config, runtime, { redis: valkey, logger });
  const totp = new TotpManager({ redis: valkey, logger, ledger: totpStepLedger(db), ...totpSettingsFromConfig(config) });
  // The child uploads its own evidence: a worker pod needs no volume shared with the API.
  const evidence = createEvidenceStore(config);
  const breaker = new LoginCircuitBreaker(valkey, config.queuePrefix, config.loginFailureThreshold, config.loginCooldownMs, logger);
  const sessionDeps = {
    providers: config.providers,
    portalUrls: runtime.portalUrls,
    automationFor,
    pool,
    totp,
    credentials: (p: ProviderConfig) => live.credentials(p),
    evidence: new EvidenceRecorder(evidence),
    logger,
  };
  const runner = new BatchRunner({
    ...sessionDeps,
    db,
    breaker,
    pauses: new ProviderPauses(db, config.loginFailureThreshold, (p) => live.credentials(p), logger),
    enqueue: (items) => enqueuer.enqueue(items),
    jobsEnded: (ids) => callbacks.enqueueForJobs(ids),
    workerName: `${hostname()}:${process.pid}`,
    retryBaseMs: config.jobRetryBaseMs,
    paces: new PortalPaceStore(valkey, config.queuePrefix),
    drift: new ContractDrift(db, logger),
    calendar: new ProviderCalendar(db, config.providers, logger),
    canaryAtStart: config.batchCanary === 'on',
  });
  return {
    runner,
    canary: (provider) => runCanary(sessionDeps, provider),
    db,
    close: async () => {
      live.close();
      await Promise.allSettled([pool.close(), totp.close(), queues.close(), evidence.close()]);
      valkey.disconnect();
      await db.destroy();
    },
  };
}
