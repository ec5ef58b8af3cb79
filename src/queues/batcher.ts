import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { ValkeyClient } from './valkey.js';
import type { Db } from '../db/database.js';
import { staleCreatedBatches, unfinishedBatchCount } from '../db/batch-store.js';
import { createBatchWithJobs } from '../db/job-transitions.js';
import type { Logger } from '../logger.js';
import type { BatchFlowProducer } from './batch-flow.js';
import { JOB_PRIORITIES } from '../db/schema.js';
import type { ProviderQueueJobData } from './job-enqueuer.js';
import { providerJobsQueue } from './queue-names.js';
import { splitOverSessions } from './session-split.js';

/** How the waiting jobs of a provider become batches (BATCH_SPREAD). */
export type BatchSpread = 'sessions' | 'fill';

/** How often a batcher whose provider has no free session looks again. */
const FREE_SESSION_POLL_MS = 200;

export interface BatcherOptions {
  provider: string;
  db: Db;
  /** A worker connection (maxRetriesPerRequest: null). */
  connection: ValkeyClient;
  basePrefix: string;
  /** BATCH_SIZE: the most jobs in one batch. */
  batchSize: number;
  maxWaitMs: number;
  /**
   * `sessions` (default): the waiting jobs are split over the provider's free sessions, one batch
   * each, and nothing is batched while no session is free. `fill`: one batch is filled up to the
   * batch size first, whether or not a session is free for it (the old way).
   */
  spread?: BatchSpread;
  /** `<P>_MAX_SESSIONS`: batches of this provider that may hold a session at once. */
  maxSessions?: number;
  /** `<P>_PAGES_PER_SESSION`: jobs one session runs at once (a batch is not split below it). */
  pagesPerSession?: number;
  /** The batch size to use now, from what was measured of the portal (at most batchSize); default batchSize. */
  sizeFor?: () => Promise<number>;
  flows: BatchFlowProducer;
  /** Until when this provider's logins are held back (a paused provider, an open breaker); 0 when they are not. */
  heldUntil: (provider: string) => Promise<number>;
  logger: Logger;
  /** How long to block waiting for a first job before looking around again (seconds). */
  drainDelaySeconds?: number;
}

/**
 * Groups the jobs waiting on one provider's queue into batches: it takes jobs as they come
 * (BullMQ manual fetching), flushing a partial batch `maxWaitMs` after the first one. With the
 * `sessions` spread it takes, while the provider has free sessions (`maxSessions` less the
 * batches written and not ended, in the whole cluster), up to one batch's worth per free
 * session, and splits what it took over them (session-split.ts); with `fill`, one batch of up
 * to `batchSize`. The session cap itself is BullMQ's global concurrency on the batch-run queue
 * (batch-workers.ts); this only keeps a provider's backlog from queueing in one batch. A batch and its membership are written to Postgres in one transaction, then
 * put on BullMQ as a flow; only then are the queue entries completed. If this process dies
 * between the two, the entries stall back to waiting and the next batcher finds them already
 * batched in Postgres (and re-adds the flow, whose ids are deterministic).
 */
export class Batcher {
  private readonly worker: Worker<ProviderQueueJobData>;
  private readonly token = randomUUID();
  private readonly log: Logger;
  private running = false;
  private loop?: Promise<void>;
  private lastFlowSweep = 0;

  constructor(private readonly options: BatcherOptions) {
    const ref = providerJobsQueue(options.basePrefix, options.provider);
    this.worker = new Worker<ProviderQueueJobData>(ref.name, null, {
      connection: options.connection as unknown as ConnectionOptions,
      prefix: ref.prefix,
      autorun: false,
      lockDuration: 60_000,
      // An entry is a pointer, never poison: one held by a batcher that died goes back to waiting
      // however often that happens (BullMQ's default fails it at the second stall).
      maxStalledCount: 1_000_000,
      drainDelay: options.drainDelaySeconds ?? 2,
    });
    this.worker.on('error', (err) => this.log.warn({ err }, 'batcher queue error'));
    this.log = options.logger.child({ component: 'batcher', provider: options.provider });
  }

  async start(): Promise<void> {
    this.running = true;
    // Manual fetching: without this timer nobody would notice entries a dead batcher held.
    await this.worker.startStalledCheckTimer();
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        await this.sweepCreatedBatches();
        const heldUntil = await this.options.heldUntil(this.options.provider);
        if (heldUntil > Date.now()) {
          // Its jobs wait on the queue, not in batches that could only be handed back.
          await sleep(Math.min(heldUntil - Date.now(), 1_000));
          continue;
        }
        if (this.options.spread === 'fill') {
          const collected = await this.collect(async () => this.options.batchSize);
          if (collected.length > 0 && !(await this.putBackIfHeld(collected))) await this.flush(collected);
          continue;
        }
        if ((await this.freeSessions()) <= 0) {
          // Every session is taken: the jobs wait on the queue, where a later split finds them.
          await sleep(FREE_SESSION_POLL_MS);
          continue;
        }
        // Chosen (and published) now too, so what operators see follows the measurements while nothing waits.
        await this.options.sizeFor?.();
        // Free sessions and the batch size are read again once a job has come: the wait for it
        // may be long, and a batch may have ended (or started elsewhere) meanwhile.
        let free = 1;
        let size = this.options.batchSize;
        const collected = await this.collect(async () => {
          // Another batcher may have taken the last free session meanwhile: then this one batch
          // waits for it on the batch-run queue, whose global concurrency is the cap.
          free = Math.max(1, await this.freeSessions());
          size = Math.max(1, Math.min(this.options.batchSize, (await this.options.sizeFor?.()) ?? this.options.batchSize));
          return free * size;
        });
        if (collected.length === 0 || (await this.putBackIfHeld(collected))) continue;
        // The queue hands jobs out highest priority first, so the first batches hold the most urgent.
        let from = 0;
        for (const n of splitOverSessions(collected.length, free, size, this.options.pagesPerSession ?? 1)) {
          await this.flush(collected.slice(from, from + n));
          from += n;
        }
      } catch (err) {
        if (!this.running) break;
        this.log.warn({ err }, 'batcher pass failed; retrying');
        await sleep(1_000);
      }
    }
  }

  /** `<P>_MAX_SESSIONS` less the provider's batches written and not ended, in the whole cluster. */
  private async freeSessions(): Promise<number> {
    return (this.options.maxSessions ?? 1) - (await unfinishedBatchCount(this.options.db, this.options.provider));
  }

  /** Up to `most()` waiting jobs (asked once the first has come): those there now, and what comes within maxWaitMs of the first. */
  private async collect(mostOnceOneCame: () => Promise<number>): Promise<Job<ProviderQueueJobData>[]> {
    const first = await this.worker.getNextJob(this.token, { block: true });
    if (!first) return [];
    const most = await mostOnceOneCame();
    const collected = [first];
    const deadline = Date.now() + this.options.maxWaitMs;
    while (this.running && collected.length < most) {
      const next = await this.worker.getNextJob(this.token, { block: false });
      if (next) {
        collected.push(next);
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) break;
      await sleep(Math.min(left, 100));
    }
    return collected;
  }

  private async flush(collected: Job<ProviderQueueJobData>[]): Promise<void> {
    const { provider, db, flows } = this.options;
    const candidates = collected.map((j) => ({ jobId: String(j.data.jobId), trip: Number(j.data.trip) }));
    const created = await createBatchWithJobs(db, provider, candidates, 'batcher');
    if (created) {
      const priority = JOB_PRIORITIES.find((p) => collected.some((j) => (j.data.priority ?? 'normal') === p));
      await flows.add(created.batchId, provider, { priority, size: created.jobIds.length });
      this.log.info({ batch_id: created.batchId, jobs: created.jobIds.length, provider }, 'batch created');
    }
    for (const job of collected) {
      await job.moveToCompleted({ batchId: created?.batchId ?? null }, this.token, false).catch((err: Error) => this.log.debug({ err }, 'queue entry already moved'));
    }
  }

  /**
   * Collecting blocks for a while: the provider may have been paused or closed meanwhile. Then the
   * entries go back on the queue, due when the hold ends (or in a few seconds), and this says so.
   */
  private async putBackIfHeld(collected: Job<ProviderQueueJobData>[]): Promise<boolean> {
    const heldUntil = await this.options.heldUntil(this.options.provider);
    if (heldUntil <= Date.now()) return false;
    const due = Math.min(heldUntil, Date.now() + 5_000);
    for (const job of collected) {
      await job.moveToDelayed(due, this.token).catch((err: Error) => this.log.debug({ err }, 'queue entry already moved'));
    }
    this.log.info({ entries: collected.length, due: new Date(due).toISOString() }, 'provider held while collecting: entries put back');
    return true;
  }

  /** Batches written to Postgres whose flow never reached Valkey (a crash, an outage) get it now. */
  private async sweepCreatedBatches(): Promise<void> {
    if (Date.now() - this.lastFlowSweep < 15_000) return;
    this.lastFlowSweep = Date.now();
    const stale = await staleCreatedBatches(this.options.db, this.options.provider, new Date(Date.now() - 15_000));
    for (const batchId of stale) await this.options.flows.add(batchId, this.options.provider);
  }

  async close(): Promise<void> {
    this.running = false;
    await this.worker.close();
    await this.loop?.catch(() => undefined);
  }
}
