import type { Request } from 'express';
import type { Db } from '../db/database.js';
import { findJob, type JobRow } from '../db/job-store.js';
import { RpaError } from '../errors/failures.js';
import { ownerScope } from './auth/roles.js';

/**
 * The job `id` as the request's key may see it: a job another key submitted does not exist for
 * a submitter (404, the same answer as for an id never used: nothing to learn from guessing).
 */
export async function visibleJob(db: Db, req: Request, id: string): Promise<JobRow> {
  const job = await findJob(db, id);
  const owner = ownerScope(req.identity!);
  if (!job || (owner !== undefined && job.submitted_by !== owner)) throw new RpaError('NOT_FOUND', `job ${id} does not exist`, { field: 'id' });
  return job;
}
