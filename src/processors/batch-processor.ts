import { DelayedError, type SandboxedJob } from 'bullmq';
import { inheritedContext } from '../config/runtime.js';
import { backoffMs } from '../errors/backoff.js';
import { coerceError } from '../errors/coerce-error.js';
import { createLogger } from '../logger.js';
import type { BatchFlowData } from '../queues/batch-flow.js';
import type { BatchRunSummary } from './batch-runner.js';
import { createBatchRuntime, type BatchRuntime } from './batch-runtime.js';

/**
 * The sandboxed batch processor: BullMQ runs this file in a child process, so a crashing or
 * leaking automation takes down one child, not the worker. The child keeps its runtime
 * (database pool, Valkey, browser pool client) for the batches it runs.
 */
let runtime: BatchRuntime | undefined;

// The worker that forked us is gone (killed, crashed): stop at once rather than run on
// unsupervised. BullMQ's stalled-job recovery gives the batch to another worker.
process.on('disconnect', () => process.exit(70));

/** How many times in a row a run is put off for an outage before it counts as a failed attempt. */
const MAX_POSTPONES = 60;

export default async function batchProcessor(job: SandboxedJob<BatchFlowData, BatchRunSummary>, token?: string): Promise<BatchRunSummary> {
  if (!runtime) {
    const { config, runtime: found } = await inheritedContext();
    runtime = createBatchRuntime(config, found, createLogger({ level: config.logLevel, name: 'batch-processor' }).child({ provider: job.data.provider }));
  }
  try {
    return await runtime.runner.run(job.data.batchId, (progress) => job.updateProgress(progress));
  } catch (thrown) {
    const error = coerceError(thrown);
    // Postgres, Valkey or the pool is out: the batch waits for it rather than spend the run's
    // attempts (a minute of Postgres downtime would otherwise use them all up). Every step of
    // the run is guarded, so running it again later is safe.
    const postponed = Number(job.data.postponed ?? 0);
    if (error.scope === 'batch' && token && postponed < MAX_POSTPONES) {
      await job.updateData({ ...job.data, postponed: postponed + 1 });
      await job.moveToDelayed(Date.now() + backoffMs(postponed + 1, { baseMs: 2_000, maxMs: 30_000 }), token);
      throw new DelayedError(`postponed: ${error.message}`);
    }
    throw error;
  }
}
