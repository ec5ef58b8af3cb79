import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Redis } from 'iovalkey';
import { PoolDirectory } from '../../../src/browser/client/pool-directory.js';
import { poolToken } from '../../../src/browser/client/pool-token.js';
import { Fleet, type FleetOptions } from '../../../src/browser/fleet/fleet.js';
import { KubernetesPoolBackend } from '../../../src/browser/fleet/kubernetes-backend.js';
import { WarmSchedule, type WarmScheduleOptions } from '../../../src/browser/fleet/warm-schedule.js';
import type { Logger } from '../../../src/logger.js';

export const FLEET_NS = 'rpa-fleet';
export const FLEET_TOKEN = 'fleet-pool-token-0123456789abcdef';

export interface KubeFleetOptions {
  /** Pointing at the fake API server (FakeKubeApiServer.kubeConfig()). */
  kubeConfig: KubeConfig;
  redis: Redis;
  prefix: string;
  /** The worker pod this member runs in (seeded in the fake API by the caller). */
  pod: { name: string; uid: string };
  poolPort: number;
  demand: () => Promise<number>;
  warm?: Partial<WarmScheduleOptions>;
  maxPools?: number;
  jobsPerPool?: number;
  idleTimeoutMs?: number;
  intervalMs?: number;
  leaderTtlMs?: number;
  now?: () => Date;
  logger: Logger;
}

/** A fleet member on the Kubernetes backend against the fake API server, with small timings for tests. */
export function kubeFleet(o: KubeFleetOptions): Fleet {
  const token = poolToken(FLEET_TOKEN);
  const options: FleetOptions = {
    mode: 'kubernetes',
    redis: o.redis,
    prefix: o.prefix,
    token,
    directory: new PoolDirectory({ redis: o.redis, prefix: o.prefix }),
    memberId: o.pod.name,
    manager: {
      policy: { maxPools: o.maxPools ?? 4, jobsPerPool: o.jobsPerPool ?? 10, idleTimeoutMs: o.idleTimeoutMs ?? 60_000 },
      backend: new KubernetesPoolBackend({
        core: o.kubeConfig.makeApiClient(CoreV1Api),
        namespace: FLEET_NS,
        image: 'rpa-orchestrator-browser:test',
        poolPort: o.poolPort,
        token: FLEET_TOKEN,
        tokenSecret: 'fno-credentials',
        resources: { cpuRequest: '100m', cpuLimit: '1', memory: '1Gi' },
        instance: 'rpa',
        owner: o.pod,
        readyTimeoutMs: 10_000,
        logger: o.logger,
        pollIntervalMs: 25,
      }),
      readyTimeoutMs: 10_000,
      idPrefix: 'rpa-browser-rpa',
      now: o.now,
    },
    demand: o.demand,
    warm: new WarmSchedule({ warmMin: 0, prewarmMs: 600_000, jobsPerPool: o.jobsPerPool ?? 10, ...o.warm }),
    logger: o.logger,
    intervalMs: o.intervalMs ?? 200,
    leaderTtlMs: o.leaderTtlMs ?? 1_500,
    now: o.now,
  };
  return new Fleet(options);
}
