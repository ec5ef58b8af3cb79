import { sql, type Selectable } from 'kysely';
import type { Db } from './database.js';
import type { BatchesTable, BatchStatus } from './schema.js';

export type BatchRow = Selectable<BatchesTable>;

export interface BatchListFilter {
  status?: BatchStatus;
  provider?: string;
  since?: Date;
  beforeId?: string;
  limit: number;
}

export async function listBatches(db: Db, filter: BatchListFilter): Promise<BatchRow[]> {
  let query = db.selectFrom('batches').selectAll().orderBy('id', 'desc').limit(filter.limit);
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.provider) query = query.where('provider', '=', filter.provider);
  if (filter.since) query = query.where('created_at', '>=', filter.since);
  if (filter.beforeId) query = query.where('id', '<', filter.beforeId);
  return query.execute();
}

export async function listActiveBatches(db: Db): Promise<BatchRow[]> {
  return db.selectFrom('batches').selectAll().where('status', 'in', ['created', 'assigned', 'in_progress']).orderBy('id').execute();
}

export async function findBatch(db: Db, id: string): Promise<BatchRow | undefined> {
  return db.selectFrom('batches').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The jobs that were members of a batch, in batch order, with their current state. */
export async function findBatchMembers(db: Db, batchId: string) {
  return db
    .selectFrom('batch_jobs')
    .innerJoin('jobs', 'jobs.id', 'batch_jobs.job_id')
    .select([
      'jobs.id',
      'jobs.action',
      'jobs.circuit_number',
      'jobs.status',
      'jobs.batch_id',
      'jobs.attempts',
      'jobs.result',
      'jobs.error',
      'batch_jobs.position',
      'batch_jobs.attempt',
    ])
    .where('batch_jobs.batch_id', '=', batchId)
    .orderBy('batch_jobs.position')
    .execute();
}

/** Finished members / size, as shown to operators ("25/50"). */
export function batchProgress(batch: Pick<BatchRow, 'completed_count' | 'failed_count' | 'returned_count' | 'size'>): string {
  return `${batch.completed_count + batch.failed_count + batch.returned_count}/${batch.size}`;
}

export async function countBatchesByStatus(db: Db): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('batches')
    .select(['status', sql<number>`count(*)::int`.as('n')])
    .groupBy('status')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}
