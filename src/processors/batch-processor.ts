import { DelayedError, type SandboxedJob } from 'bullmq';
import { PROCESS_CONTEXT_VAR, inheritedContext } from '../config/runtime.js';
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
let runtime: Promise<BatchRuntime> | undefined;

function runtimeOnce(): Promise<BatchRuntime> {
  runtime ??= (async () => {
    const { config, runtime: found } = await inheritedContext();
    return createBatchRuntime(config, found, createLogger({ level: config.logLevel, name: 'batch-processor' }));
  })();
  // A runtime that could not be made is made again by the next batch (and its error fails this one).
  runtime.catch(() => (runtime = undefined));
  return runtime;
}

// A child the worker starts ahead of its batches (warm-children.ts) loads this file then: it
// makes its runtime at once, so its first batch finds it ready. Not when imported in-process.
if (process.send && process.env[PROCESS_CONTEXT_VAR]) runtimeOnce().catch(() => undefined);

// The worker that forked us is gone (killed, crashed): stop at once rather than run on
// unsupervised. BullMQ's stalled-job recovery gives the batch to another worker.
process.on('disconnect', () => process.exit(70));

/** How many times in a row a run is put off for an outage before it counts as a failed attempt. */
const MAX_POSTPONES = 60;

export default async function batchProcessor(job: SandboxedJob<BatchFlowData, BatchRunSummary>, token?: string): Promise<BatchRunSummary> {
  const { runner } = await runtimeOnce();
  try {
    return await runner.run(job.data.batchId, (progress) => job.updateProgress(progress));
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
