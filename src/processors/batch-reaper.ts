import { quietBatches, strandedJobs } from '../db/batch-store.js';
import { returnJobs } from '../db/job-transitions.js';
import { coerceError } from '../errors/coerce-error.js';
import { repeatEvery, type Repeating } from '../infra/repeat-every.js';
import { batchFlowJobIds } from '../queues/queue-names.js';
import type { QueueRegistry } from '../queues/queue-registry.js';
import { settleBatch, type SettlementDeps } from './batch-settlement.js';

/** Queue states in which the batch's run job will still be picked up by a worker. */
const RUN_PENDING = new Set(['waiting', 'delayed', 'prioritized', 'waiting-children']);

export interface BatchReaperOptions extends SettlementDeps {
  queues: QueueRegistry;
  /** A run that has not beaten for this long is presumed gone. */
  quietAfterMs: number;
}

export interface ReapResult {
  settled: string[];
  returned: number;
}

/**
 * Recovers every batch no live run holds, once: its run stopped beating (its worker died, was
 * frozen, or lost Valkey) and its run job is gone from Valkey (wiped, removed in Bull Board),
 * has ended, or is still "active" long after any lock could have lasted. Such a batch is settled
 * like a finished run (fenced, unfinished jobs back to waiting, closed, callbacks due), and jobs
 * left attached to an ended batch go back to waiting. Runs on the batcher role; every step is
 * guarded in Postgres, so two reapers at once do no harm.
 */
export class BatchReaper {
  private schedule?: Repeating;

  constructor(private readonly options: BatchReaperOptions) {}

  start(intervalMs = 10_000): void {
    this.schedule ??= repeatEvery(intervalMs, () => this.pass(), { logger: this.options.logger, what: 'batch reaper' });
  }

  async pass(): Promise<ReapResult> {
    const { db, queues, quietAfterMs, logger } = this.options;
    const now = Date.now();
    const settled: string[] = [];
    for (const batch of await quietBatches(db, new Date(now - quietAfterMs))) {
      const quietFor = now - (batch.heartbeat_at ?? batch.updated_at).getTime();
      let state: string;
      try {
        state = await queues.batchRuns(batch.provider).getJobState(batchFlowJobIds(batch.id).run);
      } catch (err) {
        // Valkey unreachable: a run may still come for it; look again next pass.
        logger.debug({ err: coerceError(err).message, batch_id: batch.id }, 'batch reaper cannot read the run job');
        continue;
      }
      if (RUN_PENDING.has(state)) continue;
      // "active" with no heartbeat: a frozen worker whose lock BullMQ has not yet seen expire.
      if (state === 'active' && quietFor < 4 * quietAfterMs) continue;
      const status = await settleBatch(this.options, batch.id, { actor: 'batch-reaper', failure: `no live run (quiet for ${Math.round(quietFor / 1000)} s; run job ${state})` });
      if (status) settled.push(batch.id);
      logger.warn({ batch_id: batch.id, provider: batch.provider, run_job: state, quiet_s: Math.round(quietFor / 1000), status }, 'recovered a batch no live run held');
    }
    let returned = 0;
    const byBatch = new Map<string, Awaited<ReturnType<typeof strandedJobs>>>();
    for (const job of await strandedJobs(db)) byBatch.set(job.batch_id, [...(byBatch.get(job.batch_id) ?? []), job]);
    for (const [batchId, jobs] of byBatch) {
      const back = await returnJobs(db, batchId, jobs.map((j) => j.id), { availableAt: new Date(), cause: 'left attached to a batch that ended', actor: 'batch-reaper' });
      await this.options.enqueue(back.map((r) => ({ id: r.id, provider: jobs[0]!.provider, trip: r.trip })));
      returned += back.length;
    }
    if (returned > 0) logger.warn({ returned }, 'jobs left attached to ended batches wait for a new batch');
    return { settled, returned };
  }

  async close(): Promise<void> {
    await this.schedule?.close();
    this.schedule = undefined;
  }
}
