import type { Db } from '../db/database.js';
import { findJobsToEnqueue } from '../db/job-store.js';
import type { Logger } from '../logger.js';
import { repeatEvery, type Repeating } from '../infra/repeat-every.js';
import { queueLabel, type JobEnqueuer } from './job-enqueuer.js';
import { providerQueueJobId } from './queue-names.js';
import type { QueueRegistry } from './queue-registry.js';

export interface SweepResult {
  enqueued: number;
  /** Jobs recorded as enqueued whose queue entry had vanished (Valkey wiped or restored) or failed. */
  restored: number;
}

/**
 * Makes Valkey agree with Postgres: every committed job that should be waiting on a provider
 * queue is put there (after a Valkey outage at submit time, or a wiped Valkey). Safe to run
 * anywhere, any number of times: queue ids are deterministic.
 */
export class Sweeper {
  private schedule?: Repeating;
  private running?: Promise<SweepResult>;

  constructor(
    private readonly db: Db,
    private readonly queues: QueueRegistry,
    private readonly enqueuer: JobEnqueuer,
    private readonly logger: Logger,
    private readonly options: { batchLimit?: number; recheckAfterMs?: number } = {},
  ) {}

  start(intervalMs = 5_000): void {
    this.schedule ??= repeatEvery(intervalMs, () => this.sweep(), { logger: this.logger, what: 'sweep' });
  }

  /** One pass; concurrent calls share the pass in flight. */
  sweep(): Promise<SweepResult> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(): Promise<SweepResult> {
    const limit = this.options.batchLimit ?? 5_000;
    const recheckAfter = this.options.recheckAfterMs ?? 30_000;
    const candidates = await findJobsToEnqueue(this.db, { limit });
    const never = candidates.filter((j) => j.enqueued_at === null);
    const stale = candidates.filter((j) => j.enqueued_at !== null && Date.now() - j.enqueued_at.getTime() > recheckAfter);

    const missing = [];
    for (const job of stale) {
      const queue = this.queues.providerJobs(job.provider);
      const entryId = providerQueueJobId(job.id, job.queue_trip);
      const state = await queue.getJobState(entryId);
      if (state === 'unknown') missing.push(job);
      else if (state === 'failed') {
        // Failed by BullMQ itself (an entry held by batchers that died too often): the job is still
        // waiting in Postgres, and the dead entry's id would make a new one a no-op.
        await queue.remove(entryId);
        missing.push(job);
      }
    }
    const items = [...never, ...missing].map((j) => ({ id: j.id, provider: j.provider, trip: j.queue_trip, availableAt: j.available_at, label: queueLabel(j) }));
    if (items.length > 0) {
      await this.enqueuer.enqueue(items);
      this.logger.info({ enqueued: never.length, restored: missing.length }, 'sweeper put committed jobs on their queues');
    }
    return { enqueued: never.length, restored: missing.length };
  }

  async close(): Promise<void> {
    await this.schedule?.close();
    this.schedule = undefined;
    await this.running?.catch(() => undefined);
  }
}
