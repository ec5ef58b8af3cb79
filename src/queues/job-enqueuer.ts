import type { Db } from '../db/database.js';
import { markEnqueued } from '../db/job-repository.js';
import type { Logger } from '../logger.js';
import { providerQueueJobId } from './queue-names.js';
import type { QueueRegistry } from './queue-registry.js';

export interface EnqueueItem {
  id: string;
  provider: string;
  /** The job's queue_trip. */
  trip: number;
  /** Not before this time (retry backoff). */
  availableAt?: Date;
}

/** Data of a provider-queue job: a pointer to the Postgres row, nothing more (no secrets in Valkey). */
export interface ProviderQueueJobData {
  jobId: string;
  trip: number;
}

/**
 * Puts committed jobs on their provider queues. Ids are deterministic, so enqueueing the
 * same job twice adds it once; Postgres stays the guard against running it twice.
 */
export class JobEnqueuer {
  constructor(
    private readonly db: Db,
    private readonly queues: QueueRegistry,
    private readonly logger: Logger,
  ) {}

  /** Enqueues and records `enqueued_at`; throws when Valkey cannot be reached in `timeoutMs`. */
  async enqueue(items: EnqueueItem[], timeoutMs = 5_000): Promise<void> {
    if (items.length === 0) return;
    const byProvider = new Map<string, EnqueueItem[]>();
    for (const item of items) {
      const group = byProvider.get(item.provider);
      // push, not a spread per item: a 10,000-job bulk submission would copy the group 10,000 times.
      if (group) group.push(item);
      else byProvider.set(item.provider, [item]);
    }
    const now = Date.now();
    const work = [...byProvider].map(([provider, group]) =>
      this.queues.providerJobs(provider).addBulk(
        group.map((item) => ({
          name: 'job',
          data: { jobId: item.id, trip: item.trip } satisfies ProviderQueueJobData,
          opts: {
            jobId: providerQueueJobId(item.id, item.trip),
            delay: item.availableAt ? Math.max(0, item.availableAt.getTime() - now) : undefined,
            removeOnComplete: { age: 24 * 3600, count: 10_000 },
            removeOnFail: { age: 7 * 24 * 3600 },
          },
        })),
      ),
    );
    await withTimeout(Promise.all(work), timeoutMs, 'enqueue to Valkey');
    await markEnqueued(this.db, items.map((i) => i.id));
    this.logger.debug({ count: items.length }, 'jobs enqueued');
  }

  /** Like enqueue, but a Valkey outage is logged, not thrown: the sweeper catches up later. */
  async tryEnqueue(items: EnqueueItem[], timeoutMs = 2_000): Promise<boolean> {
    try {
      await this.enqueue(items, timeoutMs);
      return true;
    } catch (err) {
      this.logger.warn({ err, count: items.length }, 'could not enqueue jobs now; they wait in Postgres for the sweeper');
      return false;
    }
  }
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
