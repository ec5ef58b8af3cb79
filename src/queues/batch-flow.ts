import { FlowProducer, type ConnectionOptions } from 'bullmq';
import type { Redis } from 'iovalkey';
import type { JobPriority } from '../db/schema.js';
import { QUEUE_PRIORITY } from './job-enqueuer.js';
import { batchFlowJobIds, batchQueue, batchRunQueue } from './queue-names.js';

/** Data of both jobs of a batch flow: pointers only (no secrets, no circuits in Valkey). */
export interface BatchFlowData {
  batchId: string;
  provider: string;
  /** How often the run was put off for an outage (Postgres or Valkey down); not an attempt. */
  postponed?: number;
}

/** How often the batch run may be tried (crashed children, lost browsers); jobs themselves are protected by Postgres. */
export const BATCH_RUN_ATTEMPTS = 3;

/**
 * Puts a batch on BullMQ as a flow: the parent (batches-<provider>) finalises the batch once
 * its child (batch-run-<provider>, run by the sandboxed processor) has finished, whether the
 * child succeeded or finally failed. Deterministic ids make adding a flow twice add it once.
 */
export class BatchFlowProducer {
  private readonly producer: FlowProducer;

  constructor(
    connection: Redis,
    private readonly basePrefix: string,
  ) {
    this.producer = new FlowProducer({ connection: connection as unknown as ConnectionOptions });
    this.producer.on('error', () => undefined);
  }

  /**
   * `priority` orders the batch among its provider's waiting runs (the best of its jobs');
   * `size` only names it (`batch 12 · octotel · 50 jobs` in Bull Board).
   */
  async add(batchId: string, provider: string, options: { priority?: JobPriority; size?: number } = {}): Promise<void> {
    const ids = batchFlowJobIds(batchId);
    const name = `batch ${batchId} · ${provider}${options.size === undefined ? '' : ` · ${options.size} job${options.size === 1 ? '' : 's'}`}`;
    const parent = batchQueue(this.basePrefix, provider);
    const child = batchRunQueue(this.basePrefix, provider);
    const data: BatchFlowData = { batchId, provider };
    await this.producer.add({
      name,
      queueName: parent.name,
      prefix: parent.prefix,
      data,
      opts: { jobId: ids.parent, attempts: 5, backoff: { type: 'exponential', delay: 2_000 }, removeOnComplete: { age: 7 * 86_400 }, removeOnFail: { age: 30 * 86_400 } },
      children: [
        {
          name,
          queueName: child.name,
          prefix: child.prefix,
          data,
          opts: {
            jobId: ids.run,
            attempts: BATCH_RUN_ATTEMPTS,
            priority: QUEUE_PRIORITY[options.priority ?? 'normal'],
            backoff: { type: 'exponential', delay: 5_000 },
            // The parent must finalise the batch even when its run finally fails.
            ignoreDependencyOnFailure: true,
            removeOnComplete: { age: 7 * 86_400 },
            removeOnFail: { age: 30 * 86_400 },
          },
        },
      ],
    });
  }

  async close(): Promise<void> {
    await this.producer.close();
  }
}
