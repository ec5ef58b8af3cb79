import { sql, type Kysely } from 'kysely';

/**
 * Exactly once under real faults (docs/guarantees.md):
 * - batches.run_token: incremented when a runner takes a batch; every transition of a run and
 *   every portal side effect checks it, so a runner that lost the batch (frozen, cut off)
 *   touches nothing. heartbeat_at: when the holder of the token last said it was alive.
 * - one running job per circuit: a second job for the same provider and circuit waits.
 * - cancellation_intents: one row per submit attempt, with how it ended (it was one per job).
 * - provider_states: a provider paused by an operator-visible reason (bad credentials, a
 *   missing URL, a changed portal) and the refusals counted towards it; provider_events.
 * - totp_steps: the last TOTP step handed out per account, where a Valkey wipe cannot lose it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE batches ADD COLUMN run_token integer NOT NULL DEFAULT 0;
    ALTER TABLE batches ADD COLUMN heartbeat_at timestamptz;
    CREATE INDEX batches_unfinished_idx ON batches (heartbeat_at) WHERE status IN ('created', 'assigned', 'in_progress');

    CREATE UNIQUE INDEX jobs_one_running_per_circuit ON jobs (provider, circuit_number) WHERE status = 'running';
    CREATE INDEX jobs_circuit_idx ON jobs (provider, circuit_number);

    ALTER TABLE cancellation_intents DROP CONSTRAINT cancellation_intents_pkey;
    ALTER TABLE cancellation_intents ADD COLUMN id bigserial PRIMARY KEY;
    ALTER TABLE cancellation_intents ADD COLUMN run_token integer;
    ALTER TABLE cancellation_intents ADD COLUMN outcome text;
    ALTER TABLE cancellation_intents DROP CONSTRAINT cancellation_intents_state_check;
    ALTER TABLE cancellation_intents ADD CONSTRAINT cancellation_intents_state_check
      CHECK (state IN ('intended', 'done', 'submitting', 'confirmed', 'unclear', 'resolved', 'dry_run'));
    CREATE INDEX cancellation_intents_job_idx ON cancellation_intents (job_id, id);

    CREATE TABLE provider_states (
      provider          text PRIMARY KEY,
      paused_reason     text,
      paused_message    text,
      paused_since      timestamptz,
      login_refusals    integer NOT NULL DEFAULT 0,
      credentials_mark  text,
      updated_at        timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE provider_events (
      id        bigserial PRIMARY KEY,
      provider  text NOT NULL,
      at        timestamptz NOT NULL DEFAULT clock_timestamp(),
      kind      text NOT NULL,
      actor     text NOT NULL,
      details   jsonb
    );
    CREATE INDEX provider_events_provider_idx ON provider_events (provider, id);

    CREATE TABLE totp_steps (
      provider      text NOT NULL,
      account_hash  text NOT NULL,
      last_step     bigint NOT NULL,
      updated_at    timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (provider, account_hash)
    );
  `.execute(db);
}
