import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Redis } from 'iovalkey';
import type { Config } from '../config/config.js';
import type { Runtime } from '../config/runtime.js';
import type { Db } from '../db/database.js';
import { nextScheduleRuns } from '../db/schedule-store.js';
import { RpaError } from '../errors/failures.js';
import type { Logger } from '../logger.js';
import type { QueueRegistry } from '../queues/queue-registry.js';
import type { BrowserSource } from './browser-source.js';
import { PoolDirectory } from './client/pool-directory.js';
import { PoolLeaseSource } from './client/pool-lease-source.js';
import { directoryPools, fixedPool } from './client/pool-list.js';
import { poolToken, type PoolToken } from './client/pool-token.js';
import { parseBusinessHours } from '../calendar/business-hours.js';
import { Fleet } from './fleet/fleet.js';
import { KubernetesPoolBackend, coreApi, serviceAccountNamespace } from './fleet/kubernetes-backend.js';
import { LocalPoolBackend } from './fleet/local-backend.js';
import type { PoolBackend } from './fleet/pool-backend.js';
import { queuedBrowserDemand } from './fleet/queue-demand.js';
import { WarmSchedule } from './fleet/warm-schedule.js';
import type { BrowserRoleOptions } from './pool/browser-role.js';

/**
 * The one place src/browser reads the configuration: settings → the options objects of the
 * pool (browser role), the fleet and the batch children's browser source. Every class of
 * browser/ takes its own options, never the Config.
 */

/** The pool token of this process: BROWSER_POOL_TOKEN, or one generated for it alone. */
export function processPoolToken(config: Config): PoolToken {
  return poolToken(config.browserPool.token);
}

/** The `browser` role's options. `registration`: in a process with Valkey, the pool goes into the directory. */
export function browserRoleOptions(config: Config, token: PoolToken, logger: Logger, registration?: BrowserRoleOptions['registration']): BrowserRoleOptions {
  const p = config.browserPool;
  return {
    pool: {
      size: p.size,
      chromiumPath: config.chromiumPath,
      port: p.port,
      maxContextsPerBrowser: p.maxContextsPerBrowser,
      retireAfterContexts: p.retireAfterContexts,
      maxMemoryMb: p.maxMemoryMb,
    },
    token,
    configured: p.token !== undefined,
    host: config.host,
    logger,
    registration,
  };
}

export interface FleetDeps {
  /** A fail-fast Valkey connection (election, directory). */
  redis: Redis;
  queues: QueueRegistry;
  /** For the schedules' next runs; without it no schedule warms a pool. */
  db?: Db;
  logger: Logger;
  /** Tests: a KubeConfig pointing at a fake API server. Default: the pod's service account. */
  kubeConfig?: KubeConfig;
  /** Where a local pool process reads PATH, HOME … (default process.env; nothing else of it reaches the pool). */
  env?: NodeJS.ProcessEnv;
}

/** This worker's member of the fleet (pods or local processes by BROWSER_MANAGER_MODE). */
export function createFleet(config: Config, token: PoolToken, deps: FleetDeps): Fleet {
  const m = config.browserManager;
  const memberId = m.k8s.ownerPodName ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const businessHours = m.businessHours ? parseBusinessHours(m.businessHours, m.timeZone) : undefined;
  const backend = m.mode === 'kubernetes' ? kubernetesBackend(config, token, deps) : localBackend(config, token, deps);
  return new Fleet({
    mode: m.mode,
    redis: deps.redis,
    prefix: config.queuePrefix,
    token,
    directory: new PoolDirectory({ redis: deps.redis, prefix: config.queuePrefix }),
    memberId,
    manager: {
      policy: { maxPools: m.maxPools, jobsPerPool: m.jobsPerPool, idleTimeoutMs: m.idleTimeoutMs },
      backend,
      readyTimeoutMs: m.readyTimeoutMs,
      idPrefix: m.mode === 'kubernetes' ? `rpa-browser-${m.k8s.instance}` : 'local-pool',
    },
    demand: () => queuedBrowserDemand(deps.queues, config.batchSize, Object.keys(config.providers)),
    warm: new WarmSchedule({
      warmMin: Math.min(m.warmMin, m.maxPools),
      businessHours,
      prewarmMs: m.prewarmMs,
      jobsPerPool: m.jobsPerPool,
      upcomingRuns: deps.db ? (from, until) => nextScheduleRuns(deps.db!, from, until) : undefined,
    }),
    logger: deps.logger,
  });
}

function localBackend(config: Config, token: PoolToken, deps: FleetDeps): PoolBackend {
  const p = config.browserPool;
  return new LocalPoolBackend({
    pool: {
      size: p.size,
      maxContextsPerBrowser: p.maxContextsPerBrowser,
      retireAfterContexts: p.retireAfterContexts,
      maxMemoryMb: p.maxMemoryMb,
      chromiumPath: config.chromiumPath,
      logLevel: config.logLevel,
      dataDir: config.dataDir,
    },
    token: token.token,
    env: deps.env,
    pidDir: join(config.dataDir, 'browser-pools'),
    readyTimeoutMs: config.browserManager.readyTimeoutMs,
    logger: deps.logger.child({ component: 'local-pool-backend' }),
  });
}

function kubernetesBackend(config: Config, token: PoolToken, deps: FleetDeps): PoolBackend {
  const m = config.browserManager;
  if (!config.browserPool.token) {
    throw new RpaError('CONFIG_INVALID', 'BROWSER_POOL_TOKEN: required when BROWSER_MANAGER_MODE=kubernetes (the pods read it from a Secret)', { field: 'BROWSER_POOL_TOKEN' });
  }
  const namespace = m.k8s.namespace ?? serviceAccountNamespace();
  if (!namespace) throw new RpaError('CONFIG_INVALID', 'BROWSER_K8S_NAMESPACE: required outside a cluster', { field: 'BROWSER_K8S_NAMESPACE' });
  return new KubernetesPoolBackend({
    core: coreApi(deps.kubeConfig),
    namespace,
    image: m.k8s.image,
    poolPort: m.k8s.poolPort,
    token: token.token,
    tokenSecret: m.k8s.tokenSecret,
    resources: { cpuRequest: m.k8s.cpuRequest, cpuLimit: m.k8s.cpuLimit, memory: m.k8s.memory },
    instance: m.k8s.instance,
    owner: m.k8s.ownerPodName && m.k8s.ownerPodUid ? { name: m.k8s.ownerPodName, uid: m.k8s.ownerPodUid, namespace: m.k8s.ownerPodNamespace } : undefined,
    readyTimeoutMs: m.readyTimeoutMs,
    logger: deps.logger.child({ component: 'kubernetes-pool-backend' }),
  });
}

/**
 * What a sandboxed batch child leases from: the pools in the directory it holds a token for
 * (Runtime.poolTokens), or the one fixed pool (BROWSER_POOL_URL, Runtime.browserPool).
 */
export function createBrowserSource(config: Config, runtime: Runtime, deps: { redis: Redis; logger: Logger }): BrowserSource {
  if (runtime.poolTokens) {
    return new PoolLeaseSource({
      pools: directoryPools(new PoolDirectory({ redis: deps.redis, prefix: config.queuePrefix }), runtime.poolTokens),
      // The fleet may have to start a pool first (a pod: scheduling, image pull) before one has room.
      leaseTimeoutMs: config.browserManager.readyTimeoutMs + 15_000,
      logger: deps.logger,
    });
  }
  if (runtime.browserPool) {
    return new PoolLeaseSource({ pools: fixedPool(runtime.browserPool.url, runtime.browserPool.token), leaseTimeoutMs: 30_000, logger: deps.logger });
  }
  throw new RpaError('CONFIG_INVALID', 'BROWSER_POOL_URL: required by the batch processor (or a worker that runs a fleet)', { field: 'BROWSER_POOL_URL' });
}
