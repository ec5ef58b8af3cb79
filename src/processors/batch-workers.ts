import { fileURLToPath } from 'node:url';
import { Worker, type ConnectionOptions } from 'bullmq';
import type { ValkeyClient } from '../queues/valkey.js';
import type { Db } from '../db/database.js';
import type { Logger } from '../logger.js';
import { createBatchFinalizer, type BatchFinalizerDeps } from './batch-finalizer.js';
import type { BatchFlowData } from '../queues/batch-flow.js';
import { batchQueue, batchRunQueue } from '../queues/queue-names.js';
import type { QueueRegistry } from '../queues/queue-registry.js';
import { ChildHealthMonitor, type ChildHealth } from './child-health-monitor.js';
import { prestartChildren } from './warm-children.js';
import { withTimeout } from '../infra/with-timeout.js';

/** Longest wait for the warm children before a worker takes batches anyway. */
const WARM_TIMEOUT_MS = 60_000;

export const BATCH_PROCESSOR_FILE = fileURLToPath(new URL('../processors/batch-processor.js', import.meta.url));

export interface BatchWorkersOptions {
  providers: { name: string; maxSessions: number }[];
  db: Db;
  connection: ValkeyClient;
  queues: QueueRegistry;
  basePrefix: string;
  /** Environment of the sandboxed children (resolved settings: database, Valkey, pool, portals). */
  childEnv: NodeJS.ProcessEnv;
  finalizer: Omit<BatchFinalizerDeps, 'db' | 'logger'>;
  logger: Logger;
  /** The processor file (tests point it elsewhere to check the start-failure guard). */
  processorFile?: string;
  lockDurationMs?: number;
  /** Sandboxed children started per provider before its worker takes batches (at most its maxSessions; BATCH_WARM_CHILDREN). */
  warmChildren?: number;
}

/** A provider's batch processors as health shows them: the start-failure guard and the warm children. */
export interface BatchProcessorHealth extends ChildHealth {
  /** Pids of the children started with the worker (they may have run batches since, or exited). */
  warmChildren: number[];
}

export interface BatchWorkers {
  health(): Record<string, BatchProcessorHealth>;
  /** Sets each provider's session cap (BullMQ global concurrency) again, after Valkey lost it. */
  restoreSessionCaps(): Promise<void>;
  /** Stops taking batches (the ones in hand go on) until resume(): while Postgres is out. */
  hold(): Promise<void>;
  resume(): void;
  close(): Promise<void>;
}

/**
 * Per provider: a worker that runs batches in sandboxed children, at most
 * `<PROVIDER>_MAX_SESSIONS` at once across every worker (BullMQ global concurrency), and
 * a worker for the flow parents that finalise batches. Each batch worker starts its warm
 * children first (warm-children.ts) and takes batches once they are up: resolves then.
 */
export async function startBatchWorkers(options: BatchWorkersOptions): Promise<BatchWorkers> {
  const connection = options.connection as unknown as ConnectionOptions;
  const runners: Worker[] = [];
  const finalizers: Worker[] = [];
  const monitors = new Map<string, ChildHealthMonitor>();
  const warm = new Map<string, number[]>();
  const warming: Promise<void>[] = [];
  const finalize = createBatchFinalizer({ ...options.finalizer, db: options.db, logger: options.logger });
  const closeAll = async () => {
    for (const monitor of monitors.values()) monitor.close();
    // Stop taking batches and let the ones in hand finish (or be handed back by stalled recovery).
    await Promise.allSettled(runners.map((w) => w.close()));
    await Promise.allSettled(finalizers.map((w) => w.close()));
  };
  try {
    for (const provider of options.providers) {
      const log = options.logger.child({ provider: provider.name });
      await options.queues.batchRuns(provider.name).setGlobalConcurrency(provider.maxSessions);
      const run = batchRunQueue(options.basePrefix, provider.name);
      const processorFile = options.processorFile ?? BATCH_PROCESSOR_FILE;
      const runner = new Worker<BatchFlowData>(run.name, processorFile, {
        connection,
        prefix: run.prefix,
        // Started below, once its warm children are up.
        autorun: false,
        concurrency: provider.maxSessions,
        useWorkerThreads: false,
        workerForkOptions: { env: options.childEnv },
        lockDuration: options.lockDurationMs ?? 30_000,
        stalledInterval: Math.max(1_000, Math.round((options.lockDurationMs ?? 30_000) / 2)),
        // A batch whose worker was killed goes back to waiting; its jobs are safe to resume.
        maxStalledCount: 10,
      });
      runner.on('error', (err) => log.error({ err }, 'batch worker error'));
      runner.on('failed', (job, err) => log.warn({ batch_id: job?.data.batchId, err: err.message, attempt: job?.attemptsMade }, 'batch run failed'));
      monitors.set(provider.name, new ChildHealthMonitor(runner, run.name, log));
      runners.push(runner);
      const warmed = prestartChildren(runner, processorFile, Math.min(options.warmChildren ?? 0, provider.maxSessions), log).then((pids) => {
        warm.set(provider.name, pids);
        if (pids.length > 0) log.info({ pids }, 'warm batch processors started');
      });
      // A child that hangs while it starts must not keep the worker from taking batches.
      warming.push(
        withTimeout(warmed, WARM_TIMEOUT_MS, () => new Error('warm children not started in time'))
          .catch((err: unknown) => log.warn({ err }, 'taking batches before the warm children are up'))
          .then(() => {
            if (!runner.closing && !runner.isRunning()) runner.run().catch((err: unknown) => log.error({ err }, 'batch worker stopped'));
          }),
      );

      const parent = batchQueue(options.basePrefix, provider.name);
      const finalizer = new Worker<BatchFlowData>(parent.name, finalize, { connection, prefix: parent.prefix, concurrency: 4 });
      finalizer.on('error', (err) => log.error({ err }, 'batch finalizer error'));
      finalizers.push(finalizer);
    }
    await Promise.all(warming);
  } catch (error) {
    // Nothing started here may outlive a failed start: warm children included.
    await closeAll();
    throw error;
  }
  return {
    hold: async () => {
      await Promise.allSettled([...runners, ...finalizers].map((w) => w.pause(true)));
    },
    resume: () => {
      for (const w of [...runners, ...finalizers]) if (w.isPaused()) w.resume();
    },
    restoreSessionCaps: async () => {
      for (const provider of options.providers) await options.queues.batchRuns(provider.name).setGlobalConcurrency(provider.maxSessions);
    },
    health: () => Object.fromEntries([...monitors].map(([name, m]) => [name, { ...m.health(), warmChildren: warm.get(name) ?? [] }])),
    close: closeAll,
  };
}
