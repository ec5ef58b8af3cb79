import { performance } from 'node:perf_hooks';
import type { Db } from '../db/database.js';
import { jobLabels, markEnqueued, type JobRow } from '../db/job-store.js';
import { jobPriority, type JobAction, type JobPriority } from '../db/schema.js';
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
  /** What the queue entry is named after and ordered by; read from Postgres when left out. */
  label?: QueueLabel;
}

/** What a queue entry shows (Bull Board) and how it is ordered: no secrets, no results. */
export interface QueueLabel {
  action: JobAction;
  circuit: string;
  priority: JobPriority;
}

/**
 * Data of a provider-queue job: a pointer to the Postgres row, plus what an operator needs to
 * recognise it in Bull Board. Credentials, results and callbacks stay in Postgres.
 */
export interface ProviderQueueJobData {
  jobId: string;
  trip: number;
  action?: JobAction;
  circuit?: string;
  priority?: JobPriority;
}

/** BullMQ priorities (lower runs first); every entry has one, since BullMQ runs unprioritised entries before all others. */
export const QUEUE_PRIORITY: Readonly<Record<JobPriority, number>> = { high: 1, normal: 2, low: 3 };

/** The label of a job row. */
export function queueLabel(job: Pick<JobRow, 'action' | 'circuit_number' | 'parameters'>): QueueLabel {
  return { action: job.action, circuit: job.circuit_number, priority: jobPriority(job.parameters) };
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

  /**
   * Enqueues and records `enqueued_at`; throws when Valkey makes no progress for `timeoutMs`.
   * After a throw some chunks may be on the queue already: enqueueing them again adds nothing.
   */
  async enqueue(items: EnqueueItem[], timeoutMs = 5_000): Promise<void> {
    if (items.length === 0) return;
    const unlabelled = items.filter((i) => !i.label).map((i) => i.id);
    const labels = unlabelled.length > 0 ? new Map((await jobLabels(this.db, unlabelled)).map((j) => [j.id, queueLabel(j)])) : new Map<string, QueueLabel>();
    const byProvider = new Map<string, EnqueueItem[]>();
    for (const item of items) {
      const group = byProvider.get(item.provider);
      // push, not a spread per item: a 10,000-job bulk submission would copy the group 10,000 times.
      if (group) group.push(item);
      else byProvider.set(item.provider, [item]);
    }
    const now = Date.now();
    const chunks: Array<() => Promise<unknown>> = [];
    for (const [provider, group] of byProvider) {
      const queue = this.queues.providerJobs(provider);
      for (let start = 0; start < group.length; start += ENQUEUE_CHUNK) {
        const chunk = group.slice(start, start + ENQUEUE_CHUNK);
        chunks.push(() =>
          queue.addBulk(
            chunk.map((item) => {
              const label = item.label ?? labels.get(item.id);
              return {
                name: label ? `${label.action} ${label.circuit}` : `job ${item.id}`,
                data: { jobId: item.id, trip: item.trip, ...(label ?? {}) } satisfies ProviderQueueJobData,
                opts: {
                  jobId: providerQueueJobId(item.id, item.trip),
                  priority: QUEUE_PRIORITY[label?.priority ?? 'normal'],
                  delay: item.availableAt ? Math.max(0, item.availableAt.getTime() - now) : undefined,
                  removeOnComplete: { age: 24 * 3600, count: 10_000 },
                  removeOnFail: { age: 7 * 24 * 3600 },
                },
              };
            }),
          ),
        );
      }
    }
    // The timeout is for a Valkey that stopped answering, not for a big submission: every chunk
    // that lands gives the rest another timeoutMs (10,000 jobs take more than 2 s on a busy machine).
    await runChunks(chunks, { inFlight: ENQUEUE_IN_FLIGHT, timeoutMs, what: 'enqueue to Valkey' });
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

/**
 * Jobs per addBulk call, and calls in flight. One addBulk is one MULTI/EXEC that the client
 * builds in one go: 10,000 jobs in one call blocked the event loop for ~300 ms and took longer
 * than chunks of 1,000 with two in flight (~50 ms of blocking; docs/bench-ingest.md). Valkey
 * serves the workers between chunks.
 */
const ENQUEUE_CHUNK = 1_000;
const ENQUEUE_IN_FLIGHT = 2;

/**
 * Runs `tasks` with at most `inFlight` at a time. Rejects on the first failure, or when no task
 * has finished for `timeoutMs`; tasks not started by then are not started.
 */
export function runChunks(tasks: Array<() => Promise<unknown>>, options: { inFlight: number; timeoutMs: number; what: string }): Promise<void> {
  const { inFlight, timeoutMs, what } = options;
  return new Promise<void>((resolve, reject) => {
    let next = 0;
    let running = 0;
    let settled = false;
    let lastProgress = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const settle = (error?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error === undefined) resolve();
      else reject(error);
    };
    // A timer may fire right after the event loop was busy, before an answer that came in the
    // meantime is read: look again after the I/O phase (setImmediate) before giving up.
    const check = () =>
      setImmediate(() => {
        if (settled) return;
        const idle = performance.now() - lastProgress;
        if (idle >= timeoutMs) return settle(new Error(`${what} made no progress for ${timeoutMs} ms`));
        timer = setTimeout(check, timeoutMs - idle);
        timer.unref();
      });
    const launch = () => {
      while (!settled && running < inFlight && next < tasks.length) {
        const task = tasks[next++]!;
        running += 1;
        let promise: Promise<unknown>;
        try {
          promise = task();
        } catch (error) {
          return settle(error);
        }
        promise.then(
          () => {
            running -= 1;
            lastProgress = performance.now();
            if (next === tasks.length && running === 0) settle();
            else launch();
          },
          (error: unknown) => settle(error ?? new Error(`${what} failed`)),
        );
      }
    };
    if (tasks.length === 0) return settle();
    timer = setTimeout(check, timeoutMs);
    timer.unref();
    launch();
  });
}
