import { createHash } from 'node:crypto';
import { checkCallbackUrl, type CallbackUrlPolicy } from '../callbacks/callback-url-guard.js';
import { RpaError } from '../errors/failures.js';
import { findDescriptor, providerNames } from '../providers/descriptors.js';
import { parseOffsetTime } from '../calendar/offset-time.js';
import { JOB_ACTIONS, JOB_PRIORITIES, type JobAction, type JobParameters, type JobPriority } from '../db/schema.js';

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

type Obj = Record<string, unknown>;

function bad(field: string, message: string): RpaError {
  return new RpaError('VALIDATION_FAILED', `${field}: ${message}`, { field });
}

function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(obj: Obj, key: string, field: string): string | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw bad(field, 'must be a string');
  return value;
}

/** Today's date on this server (the portals' "today" is their local date too). */
export function localToday(now = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

function isRealDate(value: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}

export function parseProvider(value: unknown, field = 'provider'): string {
  if (typeof value !== 'string' || !findDescriptor(value)) throw bad(field, `must be one of ${providerNames().join(', ')}`);
  return value;
}

export function parseAction(value: unknown, field = 'action'): JobAction {
  if (typeof value !== 'string' || !(JOB_ACTIONS as readonly string[]).includes(value)) {
    throw bad(field, `must be one of ${JOB_ACTIONS.join(', ')}`);
  }
  return value as JobAction;
}

/**
 * The job's inputs, from the top level and/or `parameters` (ORDS sends either). `at` is the
 * field path prefix used in error messages (`jobs[3].` in a bulk request).
 */
function parseParameters(item: Obj, provider: string, action: JobAction, at: string): JobParameters {
  const nested = item.parameters;
  if (nested !== undefined && !isObject(nested)) throw bad(`${at}parameters`, 'must be an object');
  const fromNested = (nested ?? {}) as Obj;
  const pick = (key: string): { value: string | undefined; field: string } => {
    const top = optionalString(item, key, `${at}${key}`);
    const inner = optionalString(fromNested, key, `${at}parameters.${key}`);
    if (top !== undefined && inner !== undefined && top !== inner) throw bad(`${at}${key}`, `differs from parameters.${key}`);
    return top !== undefined ? { value: top, field: `${at}${key}` } : { value: inner, field: inner !== undefined ? `${at}parameters.${key}` : `${at}${key}` };
  };

  const circuit = pick('circuit_number');
  if (circuit.value === undefined || circuit.value.trim() === '') throw bad(circuit.field, 'is required');
  const circuitNumber = circuit.value.trim();
  const descriptor = findDescriptor(provider)!;
  if (!descriptor.circuitPattern.test(circuitNumber)) {
    throw bad(circuit.field, `"${circuitNumber}" is not a valid ${descriptor.label} circuit number (${descriptor.circuitPattern.source})`);
  }
  const parameters: JobParameters = { circuit_number: circuitNumber };

  const reason = pick('reason');
  if (reason.value !== undefined) {
    if (!(CANCELLATION_REASONS as readonly string[]).includes(reason.value)) throw bad(reason.field, `must be one of ${CANCELLATION_REASONS.join(', ')}`);
    parameters.reason = reason.value;
  }
  const date = pick('effective_date');
  if (date.value !== undefined) {
    if (!isRealDate(date.value)) throw bad(date.field, 'must be a real date as YYYY-MM-DD');
    if (date.value < localToday()) throw bad(date.field, 'must be today or later');
    parameters.effective_date = date.value;
  }
  const priority = pick('priority');
  if (priority.value !== undefined) {
    if (!(JOB_PRIORITIES as readonly string[]).includes(priority.value)) throw bad(priority.field, `must be one of ${JOB_PRIORITIES.join(', ')}`);
    parameters.priority = priority.value as JobPriority;
  }
  const deadline = pick('deadline');
  if (deadline.value !== undefined) {
    // A deadline already past is taken: the job ends DEADLINE_EXCEEDED, as any that waits too long.
    const when = parseOffsetTime(deadline.value);
    if (!when) throw bad(deadline.field, 'must be an ISO 8601 time with its offset, e.g. 2031-01-01T17:00:00+02:00');
    parameters.deadline = when.toISOString();
  }
  const dryRun = item.dry_run ?? fromNested.dry_run;
  if (dryRun !== undefined) {
    if (typeof dryRun !== 'boolean') throw bad(item.dry_run !== undefined ? `${at}dry_run` : `${at}parameters.dry_run`, 'must be true or false');
    if (action !== 'cancellation' && dryRun) throw bad(`${at}dry_run`, 'is for cancellations only (a validation changes nothing anyway)');
    if (dryRun) parameters.dry_run = true;
  }
  if (action === 'validation') {
    delete parameters.reason;
    delete parameters.effective_date;
  }
  return parameters;
}

function parseCallbackUrl(value: unknown, field: string, policy: CallbackUrlPolicy): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length > 2048) throw bad(field, 'must be a URL string of at most 2048 characters');
  try {
    return checkCallbackUrl(value, policy).toString();
  } catch (error) {
    if (error instanceof RpaError) throw new RpaError('VALIDATION_FAILED', error.message.replace(/^callback_url/, field), { field, cause: error });
    throw error;
  }
}

function parseExternalId(value: unknown, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length === 0 || value.length > 200) throw bad(field, 'must be a string of 1 to 200 characters');
  return value;
}

export function hashRequest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

function finish(job: Omit<JobRequest, 'hash'>): JobRequest {
  const canonical = { p: job.provider, a: job.action, params: job.parameters, cb: job.callbackUrl, ext: job.externalId };
  return { ...job, hash: hashRequest(canonical) };
}

/** `POST /jobs` */
export function parseJobRequest(body: unknown, policy: CallbackUrlPolicy): JobRequest {
  if (!isObject(body)) throw bad('body', 'must be a JSON object');
  const provider = parseProvider(body.provider);
  const action = parseAction(body.action);
  return finish({
    provider,
    action,
    parameters: parseParameters(body, provider, action, ''),
    callbackUrl: parseCallbackUrl(body.callback_url, 'callback_url', policy),
    externalId: parseExternalId(body.external_id, 'external_id'),
  });
}

/** `POST /jobs/bulk`: all or nothing; the first bad item is named by its index. */
export function parseBulkRequest(body: unknown, policy: CallbackUrlPolicy): JobRequest[] {
  if (!isObject(body)) throw bad('body', 'must be a JSON object');
  const provider = parseProvider(body.provider);
  const action = parseAction(body.action);
  const callbackUrl = parseCallbackUrl(body.callback_url, 'callback_url', policy);
  if (!Array.isArray(body.jobs)) throw bad('jobs', 'must be an array');
  if (body.jobs.length === 0) throw bad('jobs', 'must hold at least one job');
  if (body.jobs.length > MAX_BULK_JOBS) throw bad('jobs', `must hold at most ${MAX_BULK_JOBS} jobs`);
  const seenExternal = new Set<string>();
  return body.jobs.map((item: unknown, index: number) => {
    const at = `jobs[${index}].`;
    if (!isObject(item)) throw bad(`jobs[${index}]`, 'must be an object');
    const externalId = parseExternalId(item.external_id, `${at}external_id`);
    if (externalId !== null) {
      if (seenExternal.has(externalId)) throw bad(`${at}external_id`, 'appears twice in this request');
      seenExternal.add(externalId);
    }
    return finish({
      provider,
      action,
      parameters: parseParameters(item, provider, action, at),
      callbackUrl: item.callback_url === undefined ? callbackUrl : parseCallbackUrl(item.callback_url, `${at}callback_url`, policy),
      externalId,
    });
  });
}
