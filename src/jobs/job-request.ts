import { createHash } from 'node:crypto';
import { z } from 'zod';
import { checkCallbackUrl, type CallbackUrlPolicy } from '../callbacks/callback-url-guard.js';
import { RpaError } from '../errors/failures.js';
import { findDescriptor, providerNames } from '../providers/descriptors.js';
import { JOB_ACTIONS, JOB_PRIORITIES, type JobAction, type JobParameters, type JobPriority } from '../db/schema.js';
import { isRealDate, parseOffsetTime } from '../calendar/offset-time.js';
import { fieldError, requestSchemaError, textField } from '../http/request-schema.js';

export { JOB_PRIORITIES, type JobPriority };

export const CANCELLATION_REASONS = ['customer_request', 'non_payment', 'migration', 'other'] as const;
export const MAX_BULK_JOBS = 10_000;

/** A job as validated at the door: everything downstream trusts this shape. */
export interface JobRequest {
  provider: string;
  action: JobAction;
  parameters: JobParameters;
  callbackUrl: string | null;
  externalId: string | null;
  /** sha256 of the canonical request, for idempotent replays. */
  hash: string;
}

/**
 * The fields of one job, at the top level of the job and/or in its `parameters` (ORDS sends
 * either). Every object is strict: a field not named here is refused (a typo such as
 * `effectiveDate` must not be dropped and the job run without it), and so is `null` (leave a
 * field out instead).
 */
const JOB_FIELDS = {
  circuit_number: textField(64),
  reason: z.enum(CANCELLATION_REASONS),
  effective_date: textField(10),
  priority: z.enum(JOB_PRIORITIES),
  deadline: textField(40),
  dry_run: z.boolean(),
};
type JobFieldName = keyof typeof JOB_FIELDS;
const JOB_FIELD_NAMES = Object.keys(JOB_FIELDS) as JobFieldName[];
/** The fields a bulk request may set once for all its jobs (each job may set its own instead). */
const SHARED_FIELDS = ['priority', 'deadline', 'dry_run'] as const;

const optionalFields = <T extends Record<string, z.ZodTypeAny>>(shape: T) =>
  Object.fromEntries(Object.entries(shape).map(([k, v]) => [k, v.optional()])) as { [K in keyof T]: z.ZodOptional<T[K]> };

const parametersSchema = z.strictObject(optionalFields(JOB_FIELDS));
const callbackUrlField = textField(2048);
const externalIdField = textField(200).pipe(z.string().min(1, 'must be 1 to 200 characters'));

const jobItemShape = {
  ...optionalFields(JOB_FIELDS),
  parameters: parametersSchema.optional(),
  callback_url: callbackUrlField.optional(),
  external_id: externalIdField.optional(),
};

/** `POST /jobs` */
const singleSchema = z.strictObject({ provider: textField(64), action: textField(32), ...jobItemShape });

/** `POST /jobs/bulk` (and the request a schedule stores). */
const bulkSchema = z.strictObject({
  provider: textField(64),
  action: textField(32),
  callback_url: callbackUrlField.optional(),
  priority: JOB_FIELDS.priority.optional(),
  deadline: JOB_FIELDS.deadline.optional(),
  dry_run: JOB_FIELDS.dry_run.optional(),
  jobs: z
    .array(z.strictObject(jobItemShape))
    .min(1, 'must hold at least one job')
    .max(MAX_BULK_JOBS, `must hold at most ${MAX_BULK_JOBS} jobs`),
});

type JobItem = z.infer<typeof singleSchema> | z.infer<typeof bulkSchema>['jobs'][number];
type Shared = Partial<Pick<JobParameters, (typeof SHARED_FIELDS)[number]>>;

/** Today's date on this server (the portals' "today" is their local date too). */
export function localToday(now = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

export function parseProvider(value: unknown, field = 'provider'): string {
  if (typeof value !== 'string' || !findDescriptor(value)) throw fieldError(field, `must be one of ${providerNames().join(', ')}`);
  return value;
}

export function parseAction(value: unknown, field = 'action'): JobAction {
  if (typeof value !== 'string' || !(JOB_ACTIONS as readonly string[]).includes(value)) {
    throw fieldError(field, `must be one of ${JOB_ACTIONS.join(', ')}`);
  }
  return value as JobAction;
}

interface ParseOptions {
  /** The request a schedule stores: a deadline (one absolute time) is refused, every run would be past it. */
  forSchedule?: boolean;
  now?: Date;
}

/**
 * The job's inputs, from the top level and/or `parameters`. `at` is the field path prefix used
 * in error messages (`jobs[3].` in a bulk request); `shared` holds what a bulk request set for
 * all its jobs, with the field it was set in.
 */
function parseParameters(item: JobItem, provider: string, action: JobAction, at: string, shared: Shared, options: ParseOptions): JobParameters {
  const nested = (item.parameters ?? {}) as Partial<Record<JobFieldName, unknown>>;
  const top = item as Partial<Record<JobFieldName, unknown>>;
  const pick = <K extends JobFieldName>(key: K): { value: JobParameters[K] | undefined; field: string } => {
    const outer = top[key] as JobParameters[K] | undefined;
    const inner = nested[key] as JobParameters[K] | undefined;
    if (outer !== undefined && inner !== undefined && outer !== inner) throw fieldError(`${at}${key}`, `differs from parameters.${key}`);
    if (outer !== undefined) return { value: outer, field: `${at}${key}` };
    if (inner !== undefined) return { value: inner, field: `${at}parameters.${key}` };
    return { value: undefined, field: `${at}${key}` };
  };

  const circuit = pick('circuit_number');
  if (circuit.value === undefined || circuit.value.trim() === '') throw fieldError(circuit.field, 'is required');
  const circuitNumber = circuit.value.trim();
  const descriptor = findDescriptor(provider)!;
  if (!descriptor.circuitPattern.test(circuitNumber)) {
    throw fieldError(circuit.field, `"${circuitNumber}" is not a valid ${descriptor.label} circuit number (${descriptor.circuitPattern.source})`);
  }
  const parameters: JobParameters = { circuit_number: circuitNumber };
  const cancellationOnly = (field: string) => fieldError(field, 'is only for cancellations (this job is a validation)');

  const reason = pick('reason');
  if (reason.value !== undefined) {
    if (action !== 'cancellation') throw cancellationOnly(reason.field);
    parameters.reason = reason.value;
  }
  const date = pick('effective_date');
  if (date.value !== undefined) {
    if (action !== 'cancellation') throw cancellationOnly(date.field);
    if (!isRealDate(date.value)) throw fieldError(date.field, 'must be a real date as YYYY-MM-DD');
    if (date.value < localToday(options.now)) throw fieldError(date.field, 'must be today or later');
    parameters.effective_date = date.value;
  }
  const priority = pick('priority');
  const priorityValue = priority.value ?? shared.priority;
  if (priorityValue !== undefined) parameters.priority = priorityValue;

  const deadline = pick('deadline');
  if (deadline.value !== undefined) {
    if (options.forSchedule) throw fieldError(deadline.field, 'is not allowed in a schedule (one absolute time: every later run would be past it)');
    const when = parseOffsetTime(deadline.value);
    if (!when) throw fieldError(deadline.field, 'must be an ISO 8601 time with its offset, e.g. 2031-01-01T17:00:00+02:00');
    parameters.deadline = when.toISOString();
  } else if (shared.deadline !== undefined) {
    parameters.deadline = shared.deadline;
  }

  const dryRun = pick('dry_run');
  if (dryRun.value !== undefined && action !== 'cancellation') throw cancellationOnly(dryRun.field);
  const dryRunValue = dryRun.value ?? shared.dry_run;
  if (dryRunValue !== undefined) parameters.dry_run = dryRunValue;
  return parameters;
}

function parseCallbackUrl(value: string | undefined, field: string, policy: CallbackUrlPolicy): string | null {
  if (value === undefined) return null;
  try {
    return checkCallbackUrl(value, policy).toString();
  } catch (error) {
    if (error instanceof RpaError) throw new RpaError('VALIDATION_FAILED', error.message.replace(/^callback_url/, field), { field, cause: error });
    throw error;
  }
}

export function hashRequest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

function finish(job: Omit<JobRequest, 'hash'>): JobRequest {
  const canonical = { p: job.provider, a: job.action, params: job.parameters, cb: job.callbackUrl, ext: job.externalId };
  return { ...job, hash: hashRequest(canonical) };
}

function bodyObject(body: unknown): void {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw fieldError('body', 'must be a JSON object');
}

/** `POST /jobs` */
export function parseJobRequest(body: unknown, policy: CallbackUrlPolicy, options: ParseOptions = {}): JobRequest {
  bodyObject(body);
  const parsed = singleSchema.safeParse(body);
  if (!parsed.success) throw requestSchemaError(parsed.error, KNOWN_SINGLE);
  const job = parsed.data;
  const provider = parseProvider(job.provider);
  const action = parseAction(job.action);
  return finish({
    provider,
    action,
    parameters: parseParameters(job, provider, action, '', {}, options),
    callbackUrl: parseCallbackUrl(job.callback_url, 'callback_url', policy),
    externalId: job.external_id ?? null,
  });
}

/** `POST /jobs/bulk`: all or nothing; the first bad item is named by its index. */
export function parseBulkRequest(body: unknown, policy: CallbackUrlPolicy, options: ParseOptions = {}): JobRequest[] {
  bodyObject(body);
  const parsed = bulkSchema.safeParse(body);
  if (!parsed.success) throw requestSchemaError(parsed.error, KNOWN_BULK);
  const bulk = parsed.data;
  const provider = parseProvider(bulk.provider);
  const action = parseAction(bulk.action);
  const callbackUrl = parseCallbackUrl(bulk.callback_url, 'callback_url', policy);
  const shared: Shared = {};
  if (bulk.priority !== undefined) shared.priority = bulk.priority;
  if (bulk.dry_run !== undefined) {
    if (action !== 'cancellation') throw fieldError('dry_run', 'is only for cancellations (this request is for validations)');
    shared.dry_run = bulk.dry_run;
  }
  if (bulk.deadline !== undefined) {
    if (options.forSchedule) throw fieldError('deadline', 'is not allowed in a schedule (one absolute time: every later run would be past it)');
    const when = parseOffsetTime(bulk.deadline);
    if (!when) throw fieldError('deadline', 'must be an ISO 8601 time with its offset, e.g. 2031-01-01T17:00:00+02:00');
    shared.deadline = when.toISOString();
  }
  const seenExternal = new Set<string>();
  return bulk.jobs.map((item, index) => {
    const at = `jobs[${index}].`;
    const externalId = item.external_id ?? null;
    if (externalId !== null) {
      if (seenExternal.has(externalId)) throw fieldError(`${at}external_id`, 'appears twice in this request');
      seenExternal.add(externalId);
    }
    return finish({
      provider,
      action,
      parameters: parseParameters(item, provider, action, at, shared, options),
      callbackUrl: item.callback_url === undefined ? callbackUrl : parseCallbackUrl(item.callback_url, `${at}callback_url`, policy),
      externalId,
    });
  });
}

/** Field names a request may carry, for the "did you mean" of an unknown field. */
const KNOWN_SINGLE = Object.keys(singleSchema.shape);
const KNOWN_BULK = [...new Set([...Object.keys(bulkSchema.shape), ...Object.keys(jobItemShape), ...JOB_FIELD_NAMES])];

