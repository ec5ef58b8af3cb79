import { sql, type Kysely } from 'kysely';

/** Jobs, batches and their membership, the job event log, API keys, cancellation intents, callback deliveries. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE batches (
      id            bigserial PRIMARY KEY,
      provider      text NOT NULL,
      status        text NOT NULL DEFAULT 'created'
                    CHECK (status IN ('created','assigned','in_progress','completed','failed')),
      size          integer NOT NULL CHECK (size > 0),
      worker        text,
      completed_count integer NOT NULL DEFAULT 0,
      failed_count  integer NOT NULL DEFAULT 0,
      returned_count integer NOT NULL DEFAULT 0,
      login_count   integer NOT NULL DEFAULT 0,
      error         jsonb,
      created_at    timestamptz NOT NULL DEFAULT now(),
      started_at    timestamptz,
      finished_at   timestamptz,
      updated_at    timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX batches_status_idx ON batches (status, provider);
    CREATE INDEX batches_created_idx ON batches (created_at DESC);

    CREATE TABLE jobs (
      id              bigserial PRIMARY KEY,
      provider        text NOT NULL,
      action          text NOT NULL CHECK (action IN ('validation','cancellation')),
      circuit_number  text NOT NULL,
      parameters      jsonb NOT NULL,
      status          text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending','running','completed','failed','cancelled')),
      result          jsonb,
      error           jsonb,
      evidence        jsonb NOT NULL DEFAULT '[]'::jsonb,
      batch_id        bigint REFERENCES batches(id),
      attempts        integer NOT NULL DEFAULT 0,
      -- Trips through the provider queue: a job handed back for a later batch gets a new queue id.
      queue_trip      integer NOT NULL DEFAULT 0,
      max_attempts    integer NOT NULL,
      callback_url    text,
      external_id     text,
      request_hash    text NOT NULL,
      submitted_by    text,
      available_at    timestamptz NOT NULL DEFAULT now(),
      enqueued_at     timestamptz,
      created_at      timestamptz NOT NULL DEFAULT now(),
      updated_at      timestamptz NOT NULL DEFAULT now(),
      started_at      timestamptz,
      completed_at    timestamptz
    );
    CREATE UNIQUE INDEX jobs_external_id_key ON jobs (provider, external_id) WHERE external_id IS NOT NULL;
    CREATE INDEX jobs_list_idx ON jobs (id DESC);
    CREATE INDEX jobs_status_provider_idx ON jobs (status, provider, id DESC);
    CREATE INDEX jobs_batch_idx ON jobs (batch_id);
    CREATE INDEX jobs_unqueued_idx ON jobs (available_at) WHERE status = 'pending' AND batch_id IS NULL;

    CREATE TABLE batch_jobs (
      batch_id  bigint NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
      job_id    bigint NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
      position  integer NOT NULL,
      attempt   integer NOT NULL,
      PRIMARY KEY (batch_id, job_id)
    );
    CREATE INDEX batch_jobs_job_idx ON batch_jobs (job_id);

    CREATE TABLE job_events (
      id          bigserial PRIMARY KEY,
      job_id      bigint NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
      at          timestamptz NOT NULL DEFAULT clock_timestamp(),
      from_status text,
      to_status   text NOT NULL,
      cause       text NOT NULL,
      actor       text NOT NULL,
      batch_id    bigint,
      details     jsonb
    );
    CREATE INDEX job_events_job_idx ON job_events (job_id, id);

    -- The event log is append-only: rows may be purged by retention, never rewritten.
    CREATE FUNCTION job_events_no_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'job_events is append-only';
    END $$;
    CREATE TRIGGER job_events_append_only BEFORE UPDATE ON job_events
      FOR EACH ROW EXECUTE FUNCTION job_events_no_update();

    CREATE TABLE idempotency_keys (
      key           text PRIMARY KEY,
      request_hash  text NOT NULL,
      job_ids       bigint[] NOT NULL,
      created_at    timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE api_keys (
      id          serial PRIMARY KEY,
      name        text NOT NULL UNIQUE,
      role        text NOT NULL CHECK (role IN ('submitter','viewer','operator','admin')),
      key_prefix  text NOT NULL,
      key_hash    text NOT NULL UNIQUE,
      created_at  timestamptz NOT NULL DEFAULT now(),
      last_used_at timestamptz,
      revoked_at  timestamptz
    );

    CREATE TABLE cancellation_intents (
      job_id          bigint PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
      provider        text NOT NULL,
      circuit_number  text NOT NULL,
      batch_id        bigint,
      attempt         integer NOT NULL,
      state           text NOT NULL CHECK (state IN ('intended','done')),
      reference       text,
      created_at      timestamptz NOT NULL DEFAULT now(),
      updated_at      timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE callback_deliveries (
      job_id        bigint PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
      url           text NOT NULL,
      state         text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending','delivered','failed','refused')),
      attempts      integer NOT NULL DEFAULT 0,
      last_status   integer,
      last_error    text,
      delivered_at  timestamptz,
      created_at    timestamptz NOT NULL DEFAULT now(),
      updated_at    timestamptz NOT NULL DEFAULT now()
    );
  `.execute(db);
}
