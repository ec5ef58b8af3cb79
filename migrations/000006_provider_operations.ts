import { sql, type Kysely } from 'kysely';

/**
 * Provider operations (docs/operations.md):
 * - provider_states.contract_mismatches: PAGE_CONTRACT_MISMATCH answers in a row; at the
 *   provider's threshold it is paused for contract drift.
 * - provider_states.windows: the maintenance windows and business hours an operator set
 *   (PUT /providers/:name/windows); null means the configured ones apply.
 * - an index for the jobs whose deadline is near: parameters.deadline is stored as
 *   Date.toISOString() (UTC), so its text sorts as its time; and one for the waiting jobs of
 *   a priority (a running batch of lower ones makes way for them).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE provider_states ADD COLUMN contract_mismatches integer NOT NULL DEFAULT 0;
    ALTER TABLE provider_states ADD COLUMN windows jsonb;
    CREATE INDEX jobs_pending_deadline_idx ON jobs (provider, (parameters->>'deadline'))
      WHERE status = 'pending' AND parameters ? 'deadline';
    CREATE INDEX jobs_pending_priority_idx ON jobs (provider, (coalesce(parameters->>'priority', 'normal')), available_at)
      WHERE status = 'pending';
  `.execute(db);
}
