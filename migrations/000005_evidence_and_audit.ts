import { sql, type Kysely } from 'kysely';

/**
 * Evidence you can fetch and trust (docs/evidence.md):
 * - job_evidence: one row per evidence item of a job (a screenshot, the failure's details), its
 *   object in the evidence store named by `object_key` (relative to the store, never a server
 *   path), with the sha256 of its bytes. Deleted with its job (retention).
 * - job_audit: the job's hash chain, one entry per event and per evidence item, in the order
 *   they were written; `prev` is the previous entry's `hash`, the first one's is 64 zeros.
 * - jobs.audit_head / audit_seq: the chain's last hash and length, moved in the transaction
 *   that appends to it (under the job's row lock), sent to ORDS in each callback.
 * The legacy jobs.evidence column (absolute screenshot paths) is no longer written.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE job_evidence (
      id            bigserial PRIMARY KEY,
      job_id        bigint NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
      name          text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$'),
      step          text NOT NULL,
      content_type  text NOT NULL,
      bytes         integer NOT NULL CHECK (bytes >= 0),
      sha256        text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
      object_key    text NOT NULL,
      taken_at      timestamptz NOT NULL,
      recorded_at   timestamptz NOT NULL DEFAULT now(),
      UNIQUE (job_id, name)
    );

    CREATE TABLE job_audit (
      job_id    bigint NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
      seq       integer NOT NULL CHECK (seq > 0),
      kind      text NOT NULL CHECK (kind IN ('event', 'evidence')),
      -- job_events.id of an event entry, job_evidence.id of an evidence entry.
      ref_id    bigint NOT NULL,
      sha256    text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
      prev      text NOT NULL CHECK (prev ~ '^[0-9a-f]{64}$'),
      hash      text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
      PRIMARY KEY (job_id, seq)
    );

    ALTER TABLE jobs ADD COLUMN audit_seq integer NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN audit_head text;
  `.execute(db);
}
