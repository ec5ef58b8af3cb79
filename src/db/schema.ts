import type { ColumnType, Generated, JSONColumnType } from 'kysely';

export type JobStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';
export type BatchStatus = 'created' | 'assigned' | 'in_progress' | 'completed' | 'failed';
export type JobAction = 'validation' | 'cancellation';
export type KeyRole = 'submitter' | 'viewer' | 'operator' | 'admin';

export const JOB_STATUSES: readonly JobStatus[] = ['pending', 'running', 'completed', 'failed', 'cancelled'];
export const BATCH_STATUSES: readonly BatchStatus[] = ['created', 'assigned', 'in_progress', 'completed', 'failed'];
export const JOB_ACTIONS: readonly JobAction[] = ['validation', 'cancellation'];
export const KEY_ROLES: readonly KeyRole[] = ['submitter', 'viewer', 'operator', 'admin'];

/** How urgent a job is (`parameters.priority`); absent means `normal`. */
export type JobPriority = 'high' | 'normal' | 'low';
export const JOB_PRIORITIES = ['high', 'normal', 'low'] as const satisfies readonly JobPriority[];

/**
 * A job's inputs as the API accepted them (src/jobs/job-request.ts). Optional fields are present
 * only when the request gave them.
 */
export interface JobParameters {
  circuit_number: string;
  /** Cancellations only. */
  reason?: string;
  /** Cancellations only: YYYY-MM-DD, today or later. */
  effective_date?: string;
  /** `high`, `normal` or `low`; absent means `normal` (see jobPriority). */
  priority?: JobPriority;
  /**
   * When the submitter needs the result by: an ISO 8601 time in UTC (`2031-01-01T15:00:00.000Z`);
   * a job not started by then fails with DEADLINE_EXCEEDED.
   */
  deadline?: string;
  /** Cancellations only: a cancellation rehearsed up to its final submit, which is not made. */
  dry_run?: boolean;
}

/** A job's priority, `normal` when its request named none. */
export function jobPriority(parameters: Pick<JobParameters, 'priority'>): JobPriority {
  return parameters.priority ?? 'normal';
}

export interface JobError {
  code: string;
  message: string;
}

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

export interface JobsTable {
  id: Generated<string>;
  provider: string;
  action: JobAction;
  circuit_number: string;
  parameters: JSONColumnType<JobParameters>;
  status: ColumnType<JobStatus, JobStatus | undefined, JobStatus>;
  result: JSONColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  error: JSONColumnType<JobError | null, string | null | undefined, string | null>;
  evidence: JSONColumnType<string[], string | undefined, string>;
  batch_id: ColumnType<string | null, string | null | undefined, string | null>;
  attempts: ColumnType<number, number | undefined, number>;
  queue_trip: ColumnType<number, number | undefined, number>;
  max_attempts: number;
  callback_url: string | null;
  external_id: string | null;
  request_hash: string;
  submitted_by: string | null;
  available_at: Timestamp;
  enqueued_at: NullableTimestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
  started_at: NullableTimestamp;
  completed_at: NullableTimestamp;
  /** Migration 000005: the length of the job's audit chain and its last hash (null while empty). */
  audit_seq: ColumnType<number, number | undefined, number>;
  audit_head: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface BatchesTable {
  id: Generated<string>;
  provider: string;
  status: ColumnType<BatchStatus, BatchStatus | undefined, BatchStatus>;
  size: number;
  worker: string | null;
  completed_count: ColumnType<number, number | undefined, number>;
  failed_count: ColumnType<number, number | undefined, number>;
  returned_count: ColumnType<number, number | undefined, number>;
  login_count: ColumnType<number, number | undefined, number>;
  error: JSONColumnType<JobError | null, string | null | undefined, string | null>;
  created_at: Timestamp;
  started_at: NullableTimestamp;
  finished_at: NullableTimestamp;
  updated_at: Timestamp;
  /** Migration 000004: the fencing token of the run that holds the batch (see job-transitions.ts). */
  run_token: ColumnType<number, number | undefined, number>;
  heartbeat_at: NullableTimestamp;
}

export interface BatchJobsTable {
  batch_id: string;
  job_id: string;
  position: number;
  attempt: number;
}

export interface JobEventsTable {
  id: Generated<string>;
  job_id: string;
  at: Timestamp;
  from_status: string | null;
  to_status: string;
  cause: string;
  actor: string;
  batch_id: string | null;
  details: JSONColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
}

export interface IdempotencyKeysTable {
  key: string;
  request_hash: string;
  job_ids: string[];
  created_at: Timestamp;
}

export interface ApiKeysTable {
  id: Generated<number>;
  name: string;
  role: KeyRole;
  key_prefix: string;
  key_hash: string;
  created_at: Timestamp;
  last_used_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
}

/** How a cancellation submit went: recorded before the submit, settled after it. */
export type IntentState = 'submitting' | 'confirmed' | 'unclear' | 'resolved' | 'dry_run' | 'intended' | 'done';

/** Migration 000004: one row per submit attempt of a cancellation. */
export interface CancellationIntentsTable {
  id: Generated<string>;
  job_id: string;
  provider: string;
  circuit_number: string;
  batch_id: string | null;
  run_token: number | null;
  /** The job's attempt the submit belongs to. */
  attempt: number;
  state: IntentState;
  outcome: string | null;
  reference: string | null;
  created_at: ColumnType<Date, Date | string | undefined, Date | string>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** Migration 000004: a provider's operational state (paused and why; refused logins counted). */
export interface ProviderStatesTable {
  provider: string;
  paused_reason: string | null;
  paused_message: string | null;
  paused_since: NullableTimestamp;
  login_refusals: ColumnType<number, number | undefined, number>;
  /** A fingerprint of the credentials the refusals were counted against (not the credentials). */
  credentials_mark: string | null;
  /** Migration 000006: PAGE_CONTRACT_MISMATCH answers in a row. */
  contract_mismatches: ColumnType<number, number | undefined, number>;
  /** Migration 000006: the windows an operator set (WindowsJson); null: the configured ones. */
  windows: JSONColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface ProviderEventsTable {
  id: Generated<string>;
  provider: string;
  at: ColumnType<Date, Date | string | undefined, Date | string>;
  kind: string;
  actor: string;
  details: JSONColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
}

/** Migration 000004: the last TOTP step handed out per provider account. */
export interface TotpStepsTable {
  provider: string;
  account_hash: string;
  last_step: string;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface CallbackDeliveriesTable {
  job_id: string;
  url: string;
  state: ColumnType<'pending' | 'delivered' | 'failed' | 'refused', 'pending' | 'delivered' | 'failed' | 'refused' | undefined>;
  attempts: ColumnType<number, number | undefined, number>;
  last_status: number | null;
  last_error: string | null;
  delivered_at: NullableTimestamp;
  /** Migration 000002: when BullMQ will try a pending delivery again. */
  next_attempt_at: NullableTimestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** Migration 000003: recurring submissions (the bulk request body, run on a cron expression). */
export interface SchedulesTable {
  id: Generated<string>;
  name: string;
  cron: string;
  timezone: ColumnType<string, string | undefined, string>;
  provider: string;
  action: JobAction;
  request: JSONColumnType<Record<string, unknown>>;
  job_count: number;
  created_by: string;
  created_at: Timestamp;
  runs: ColumnType<number, number | undefined, number>;
  last_run_at: NullableTimestamp;
  last_run_jobs: number | null;
}

/** Migration 000005: one evidence item of a job, its bytes in the evidence store under `object_key`. */
export interface JobEvidenceTable {
  id: Generated<string>;
  job_id: string;
  name: string;
  step: string;
  content_type: string;
  bytes: number;
  sha256: string;
  object_key: string;
  taken_at: ColumnType<Date, Date | string, Date | string>;
  recorded_at: Timestamp;
}

/** Migration 000005: one entry of a job's hash chain (an event or an evidence item). */
export interface JobAuditTable {
  job_id: string;
  seq: number;
  kind: 'event' | 'evidence';
  ref_id: string;
  sha256: string;
  prev: string;
  hash: string;
}

export interface Database {
  jobs: JobsTable;
  batches: BatchesTable;
  batch_jobs: BatchJobsTable;
  job_events: JobEventsTable;
  idempotency_keys: IdempotencyKeysTable;
  api_keys: ApiKeysTable;
  cancellation_intents: CancellationIntentsTable;
  callback_deliveries: CallbackDeliveriesTable;
  schedules: SchedulesTable;
  provider_states: ProviderStatesTable;
  provider_events: ProviderEventsTable;
  totp_steps: TotpStepsTable;
  job_evidence: JobEvidenceTable;
  job_audit: JobAuditTable;
}
