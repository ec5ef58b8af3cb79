import { Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Redis } from 'iovalkey';
import type { CallbackUrlPolicy } from '../callbacks/callback-url-guard.js';
import type { Db } from '../db/database.js';
import type { EvidenceStore } from '../evidence/evidence-store.js';
import type { JobSubmission } from '../jobs/job-submission.js';
import type { Logger } from '../logger.js';
import { maintenanceQueue } from '../queues/queue-names.js';
import type { QueueRegistry } from '../queues/queue-registry.js';
import { reconcileSchedulers, runSchedule, SCHEDULE_RUN_JOB } from '../jobs/schedules.js';
import { purgeFinishedJobs, trimQueues, type RetentionResult } from './retention.js';

export const RETENTION_JOB = 'retention';
/** Daily at 03:15 UTC. */
export const DEFAULT_RETENTION_CRON = '15 3 * * *';

export interface MaintenanceWorkerOptions {
  db: Db;
  connection: Redis;
  queues: QueueRegistry;
  submission: JobSubmission;
  callbackPolicy: CallbackUrlPolicy;
  retentionDays: number;
  /** Where a purged job's evidence objects are removed from. */
  evidence: EvidenceStore;
  /** Legacy evidence files (before migration 000005) are removed only inside it. */
  evidenceDir: string;
  retentionCron?: string;
  logger: Logger;
}

export interface MaintenanceWorker {
  /** Runs the retention purge now (what the scheduled job does). */
  retention(): Promise<RetentionResult>;
  /** Puts the job schedulers back from Postgres (after Valkey lost them); idempotent. */
  restoreSchedulers(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The maintenance role: one BullMQ worker on the maintenance queue running the retention
 * purge (a job scheduler, daily) and the runs of recurring submissions (one job scheduler per
 * schedule, kept in step with Postgres at start).
 */
export async function startMaintenanceWorker(options: MaintenanceWorkerOptions): Promise<MaintenanceWorker> {
  const { db, queues, logger } = options;
  const log = logger.child({ component: 'maintenance' });
  const queue = queues.maintenance();
  const retention = async (): Promise<RetentionResult> => {
    const day = 86_400_000;
    const purged = await purgeFinishedJobs(db, { cutoff: new Date(Date.now() - options.retentionDays * day), evidence: options.evidence, evidenceDir: options.evidenceDir, logger: log });
    // Completed queue entries are only bookkeeping (Postgres has the outcome): a day is plenty.
    const queueEntries = await trimQueues(queues.all(), { completedAgeMs: day, failedAgeMs: options.retentionDays * day });
    const result = { ...purged, queueEntries };
    log.info(result, 'retention purge done');
    return result;
  };
  const restoreSchedulers = async () => {
    await queue.upsertJobScheduler('retention', { pattern: options.retentionCron ?? DEFAULT_RETENTION_CRON, tz: 'UTC' }, { name: RETENTION_JOB, opts: { removeOnComplete: { count: 30 }, removeOnFail: { count: 30 } } });
    await reconcileSchedulers(db, queue);
  };
  await restoreSchedulers();
  const ref = maintenanceQueue(queues.basePrefix);
  const worker = new Worker(
    ref.name,
    async (job: Job) => {
      if (job.name === RETENTION_JOB) return retention();
      if (job.name === SCHEDULE_RUN_JOB) {
        const ids = await runSchedule(db, options.submission, String(job.data.scheduleId), job.id ?? String(job.timestamp), options.callbackPolicy);
        log.info({ schedule_id: job.data.scheduleId, jobs: ids.length }, 'scheduled submission run');
        return { jobs: ids.length };
      }
      log.warn({ name: job.name }, 'unknown maintenance job');
      return undefined;
    },
    { connection: options.connection as unknown as ConnectionOptions, prefix: ref.prefix, concurrency: 1 },
  );
  worker.on('error', (err) => log.warn({ err }, 'maintenance worker error'));
  worker.on('failed', (job, err) => log.error({ err, name: job?.name }, 'maintenance job failed'));
  return { retention, restoreSchedulers, close: () => worker.close() };
}
