import { sql, type Selectable } from 'kysely';
import type { Db } from './database.js';
import type { BatchesTable, JobsTable } from './schema.js';

export type BoardJobRow = Pick<Selectable<JobsTable>, 'id' | 'action' | 'circuit_number' | 'parameters' | 'status' | 'result' | 'error' | 'attempts' | 'max_attempts' | 'batch_id'> & {
  evidence: { name: string }[];
};

export type BoardBatchRow = Pick<
  Selectable<BatchesTable>,
  'id' | 'provider' | 'status' | 'size' | 'completed_count' | 'failed_count' | 'returned_count' | 'login_count' | 'error'
> & { circuits: string[] };

/** The jobs Bull Board shows a page of, with the names of their evidence. */
export async function boardJobs(db: Db, ids: string[]): Promise<BoardJobRow[]> {
  if (ids.length === 0) return [];
  return db
    .selectFrom('jobs')
    .select(['id', 'action', 'circuit_number', 'parameters', 'status', 'result', 'error', 'attempts', 'max_attempts', 'batch_id'])
    .select((eb) =>
      eb
        .selectFrom('job_evidence')
        .select(sql<{ name: string }[]>`coalesce(json_agg(json_build_object('name', job_evidence.name) ORDER BY job_evidence.taken_at), '[]')`.as('names'))
        .whereRef('job_evidence.job_id', '=', 'jobs.id')
        .as('evidence'),
    )
    .where('id', 'in', ids)
    .execute() as Promise<BoardJobRow[]>;
}

/** The batches Bull Board shows a page of, with their circuits (first 50, in batch order). */
export async function boardBatches(db: Db, ids: string[]): Promise<BoardBatchRow[]> {
  if (ids.length === 0) return [];
  return db
    .selectFrom('batches')
    .select(['id', 'provider', 'status', 'size', 'completed_count', 'failed_count', 'returned_count', 'login_count', 'error'])
    .select((eb) =>
      eb
        .selectFrom((inner) =>
          inner
            .selectFrom('batch_jobs')
            .innerJoin('jobs', 'jobs.id', 'batch_jobs.job_id')
            .select(['jobs.circuit_number', 'batch_jobs.position'])
            .whereRef('batch_jobs.batch_id', '=', 'batches.id')
            .orderBy('batch_jobs.position')
            .limit(50)
            .as('members'),
        )
        .select(sql<string[]>`coalesce(array_agg(members.circuit_number ORDER BY members.position), '{}')`.as('circuits'))
        .as('circuits'),
    )
    .where('id', 'in', ids)
    .execute() as Promise<BoardBatchRow[]>;
}
