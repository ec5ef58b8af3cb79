import type { SandboxedJob } from 'bullmq';
import { createBatchRuntime, type BatchRuntime } from './batch-runtime.js';
import type { BatchRunSummary } from './batch-runner.js';
import { loadConfig, providerModulePaths } from '../config/config.js';
import { createLogger } from '../logger.js';
import { loadProviderModules } from '../providers/provider-plugins.js';
import type { BatchFlowData } from '../queues/batch-flow.js';

/**
 * The sandboxed batch processor: BullMQ runs this file in a child process, so a crashing or
 * leaking automation takes down one child, not the worker. The child keeps its runtime
 * (database pool, Valkey, browser pool client) for the batches it runs.
 */
let runtime: BatchRuntime | undefined;

// The worker that forked us is gone (killed, crashed): stop at once rather than run on
// unsupervised. BullMQ's stalled-job recovery gives the batch to another worker.
process.on('disconnect', () => process.exit(70));

export default async function batchProcessor(job: SandboxedJob<BatchFlowData, BatchRunSummary>): Promise<BatchRunSummary> {
  if (!runtime) {
    // The worker hands its environment down, RPA_PROVIDER_MODULES included: plugins first.
    await loadProviderModules(providerModulePaths());
    const config = loadConfig();
    runtime = createBatchRuntime(config, createLogger({ level: config.logLevel, name: 'batch-processor' }).child({ provider: job.data.provider }));
  }
  return runtime.runner.run(job.data.batchId, (progress) => job.updateProgress(progress));
}
