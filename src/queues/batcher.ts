import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { ValkeyClient } from './valkey.js';
import type { Db } from '../db/database.js';
import { staleCreatedBatches } from '../db/batch-store.js';
import { createBatchWithJobs } from '../db/job-transitions.js';
import type { Logger } from '../logger.js';
import type { BatchFlowProducer } from './batch-flow.js';
import { JOB_PRIORITIES } from '../db/schema.js';
import type { ProviderQueueJobData } from './job-enqueuer.js';
import { providerJobsQueue } from './queue-names.js';

export interface BatcherOptions {
  provider: string;
  db: Db;
  /** A worker connection (maxRetriesPerRequest: null). */
  connection: ValkeyClient;
  basePrefix: string;
  batchSize: number;
  maxWaitMs: number;
  flows: BatchFlowProducer;
  /** Until when this provider's logins are held back (a paused provider, an open breaker); 0 when they are not. */
  heldUntil: (provider: string) => Promise<number>;
  logger: Logger;
  /** How long to block waiting for a first job before looking around again (seconds). */
  drainDelaySeconds?: number;
}

/**
 * Groups the jobs waiting on one provider's queue into batches: it takes jobs as they come
 * (BullMQ manual fetching), up to `batchSize`, flushing a partial batch `maxWaitMs` after the
 * first one. A batch and its membership are written to Postgres in one transaction, then
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
        const collected = await this.collect();
        if (collected.length === 0) continue;
        // Collecting blocks for a while: the provider may have been paused or closed meanwhile.
        const heldNow = await this.options.heldUntil(this.options.provider);
        if (heldNow > Date.now()) await this.putBack(collected, heldNow);
        else await this.flush(collected);
      } catch (err) {
        if (!this.running) break;
        this.log.warn({ err }, 'batcher pass failed; retrying');
        await sleep(1_000);
      }
    }
  }

  private async collect(): Promise<Job<ProviderQueueJobData>[]> {
    const first = await this.worker.getNextJob(this.token, { block: true });
    if (!first) return [];
    const collected = [first];
    const deadline = Date.now() + this.options.maxWaitMs;
    while (this.running && collected.length < this.options.batchSize) {
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

  /** Queue entries taken just as the provider was held: back on the queue, due when the hold ends (or in a few seconds). */
  private async putBack(collected: Job<ProviderQueueJobData>[], heldUntil: number): Promise<void> {
    const due = Math.min(heldUntil, Date.now() + 5_000);
    for (const job of collected) {
      await job.moveToDelayed(due, this.token).catch((err: Error) => this.log.debug({ err }, 'queue entry already moved'));
    }
    this.log.info({ entries: collected.length, due: new Date(due).toISOString() }, 'provider held while collecting: entries put back');
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
