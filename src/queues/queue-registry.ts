import { Queue, type ConnectionOptions } from 'bullmq';
import type { Redis } from 'iovalkey';
import { providerNames } from '../providers/descriptors.js';
import { batchQueue, batchRunQueue, callbackQueue, canaryQueue, maintenanceQueue, providerJobsQueue, type QueueRef } from './queue-names.js';

/** Lazily created BullMQ Queue objects sharing one connection, closed together. */
export class QueueRegistry {
  private readonly queues = new Map<string, Queue>();

  constructor(
    private readonly connection: Redis,
    readonly basePrefix: string,
  ) {}

  get(ref: QueueRef): Queue {
    const key = `${ref.prefix}:${ref.name}`;
    let queue = this.queues.get(key);
    if (!queue) {
      queue = new Queue(ref.name, { connection: this.connection as unknown as ConnectionOptions, prefix: ref.prefix });
      queue.on('error', () => undefined);
      this.queues.set(key, queue);
    }
    return queue;
  }

  providerJobs(provider: string): Queue {
    return this.get(providerJobsQueue(this.basePrefix, provider));
  }

  batches(provider: string): Queue {
    return this.get(batchQueue(this.basePrefix, provider));
  }

  batchRuns(provider: string): Queue {
    return this.get(batchRunQueue(this.basePrefix, provider));
  }

  callbacks(): Queue {
    return this.get(callbackQueue(this.basePrefix));
  }

  canary(): Queue {
    return this.get(canaryQueue(this.basePrefix));
  }

  maintenance(): Queue {
    return this.get(maintenanceQueue(this.basePrefix));
  }

  /** Every queue an operator should see (Bull Board, metrics). */
  all(): Queue[] {
    const queues: Queue[] = [];
    for (const provider of providerNames()) queues.push(this.providerJobs(provider), this.batches(provider), this.batchRuns(provider));
    queues.push(this.callbacks(), this.maintenance());
    return queues;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
  }
}
