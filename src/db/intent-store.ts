import { sql, type Selectable } from 'kysely';
import { RpaError } from '../errors/failures.js';
import type { Db } from './database.js';
import type { RunHold } from './job-transitions.js';
import type { CancellationIntentsTable, IntentState } from './schema.js';

export type IntentRow = Selectable<CancellationIntentsTable>;

/**
 * A cancellation's submits, one row each: written the moment before the form is sent (under
 * the run's hold, so a runner that lost its batch sends nothing), settled when the portal's
 * answer (or a read of the circuit) says how it ended. docs/guarantees.md.
 */

/** Records the submit about to be made; RUN_SUPERSEDED when another run holds the batch. */
export async function recordSubmit(db: Db, job: { id: string; provider: string; circuit_number: string; attempts: number }, hold: RunHold, state: 'submitting' | 'dry_run' = 'submitting'): Promise<string> {
  const { rows } = await sql<{ id: string }>`
    INSERT INTO cancellation_intents (job_id, provider, circuit_number, batch_id, run_token, attempt, state)
    SELECT ${job.id}, ${job.provider}, ${job.circuit_number}, ${hold.batchId}, ${hold.token}, ${job.attempts}, ${state}
    WHERE EXISTS (SELECT 1 FROM batches WHERE id = ${hold.batchId} AND run_token = ${hold.token})
      AND EXISTS (SELECT 1 FROM jobs WHERE id = ${job.id} AND batch_id = ${hold.batchId} AND status = 'running')
    RETURNING id
  `.execute(db);
  if (rows.length === 0) throw new RpaError('RUN_SUPERSEDED', `batch ${hold.batchId}: this run no longer holds job ${job.id}; nothing is submitted`);
  return rows[0]!.id;
}

/** How a submit ended: confirmed by the portal's answer, unclear (no answer), or resolved by reading the circuit. */
export async function settleSubmit(db: Db, intentId: string, state: Extract<IntentState, 'confirmed' | 'unclear' | 'resolved'>, outcome: string, reference: string | null): Promise<void> {
  await db.updateTable('cancellation_intents').set({ state, outcome: outcome.slice(0, 500), reference, updated_at: new Date() }).where('id', '=', intentId).execute();
}

/** Every submit of a job, oldest first. */
export async function submitsOf(db: Db, jobId: string): Promise<IntentRow[]> {
  return db.selectFrom('cancellation_intents').selectAll().where('job_id', '=', jobId).orderBy('id').execute();
}
