import cronParser from 'cron-parser';
import ms from 'ms';
import { RpaError } from '../errors/failures.js';
import { inBusinessHours, lastFiring, nextClosing, nextFiring, nextOpening, parseBusinessHours, type BusinessHours } from './business-hours.js';
import { parseOffsetTime } from './offset-time.js';

const { parseExpression } = cronParser;

/** A planned outage of a provider's portal: recurring (a cron expression and a duration) or once. */
export type MaintenanceWindow =
  | { kind: 'recurring'; cron: string; durationMs: number; label?: string }
  | { kind: 'once'; startsAt: Date; endsAt: Date; label?: string };

/** When a provider may run: outside every maintenance window and, when it has them, inside its business hours. */
export interface ProviderWindows {
  timeZone: string;
  businessHours?: BusinessHours;
  maintenance: readonly MaintenanceWindow[];
}

export type ClosedReason = 'maintenance' | 'outside_business_hours';

export type WindowState =
  | { open: true; /** When it next closes (within a week), and why. */ closesAt?: Date; closesFor?: ClosedReason; label?: string }
  | { open: false; reason: ClosedReason; /** When it opens again. */ until: Date; label?: string };

/** The JSON form (GET/PUT /providers/:name/windows, provider_states.windows). */
export interface WindowsJson {
  time_zone: string;
  business_hours: string | null;
  maintenance: Array<{ cron: string; duration: string; label?: string } | { starts_at: string; ends_at: string; label?: string }>;
}

const WEEK_MS = 7 * 86_400_000;
/** Windows that abut (one closes as the next opens) are walked through; this bounds the walk. */
const MAX_STEPS = 64;

/** Why `now` lies in a closed stretch, or undefined when the provider may run. */
function closedAt(w: ProviderWindows, now: Date): { reason: ClosedReason; ends: number; label?: string } | undefined {
  for (const m of w.maintenance) {
    if (m.kind === 'once') {
      if (m.startsAt.getTime() <= now.getTime() && now.getTime() < m.endsAt.getTime()) return { reason: 'maintenance', ends: m.endsAt.getTime(), label: m.label };
      continue;
    }
    const started = lastFiring(m.cron, now, w.timeZone);
    if (started + m.durationMs > now.getTime()) return { reason: 'maintenance', ends: started + m.durationMs, label: m.label };
  }
  if (w.businessHours && !inBusinessHours(w.businessHours, now)) return { reason: 'outside_business_hours', ends: nextOpening(w.businessHours, now).getTime() };
  return undefined;
}

/** The first moment after `now` at which a stretch of closure begins (within `horizonMs`). */
function nextClosure(w: ProviderWindows, now: Date, horizonMs: number): { at: number; reason: ClosedReason; label?: string } | undefined {
  const candidates: Array<{ at: number; reason: ClosedReason; label?: string }> = [];
  for (const m of w.maintenance) {
    if (m.kind === 'once') {
      if (m.startsAt.getTime() > now.getTime()) candidates.push({ at: m.startsAt.getTime(), reason: 'maintenance', label: m.label });
    } else {
      candidates.push({ at: nextFiring(m.cron, now, w.timeZone), reason: 'maintenance', label: m.label });
    }
  }
  if (w.businessHours) {
    const closes = nextClosing(w.businessHours, now);
    if (closes) candidates.push({ at: closes.getTime(), reason: 'outside_business_hours' });
  }
  const limit = now.getTime() + horizonMs;
  for (const c of candidates.sort((a, b) => a.at - b.at)) {
    if (c.at > limit) break;
    // Hours that close at midnight and open again at midnight do not close at all.
    if (closedAt(w, new Date(c.at))) return c;
  }
  return undefined;
}

/** Whether a provider may run at `now`; when not, until when and why; when it may, when that ends. */
export function windowState(w: ProviderWindows, now: Date): WindowState {
  let closed = closedAt(w, now);
  if (!closed) {
    const next = nextClosure(w, now, WEEK_MS);
    return next ? { open: true, closesAt: new Date(next.at), closesFor: next.reason, label: next.label } : { open: true };
  }
  const first = closed;
  let until = closed.ends;
  // A maintenance window that ends outside business hours (or runs into the next window) keeps it closed.
  for (let step = 0; step < MAX_STEPS; step++) {
    closed = closedAt(w, new Date(until));
    if (!closed) break;
    until = Math.max(until + 1, closed.ends);
  }
  return { open: false, reason: first.reason, until: new Date(until), label: first.label };
}

/** No windows at all: the provider always runs. */
export function alwaysOpen(timeZone: string): ProviderWindows {
  return { timeZone, maintenance: [] };
}

const DURATION_MAX_MS = WEEK_MS;

/** Where a window's text or JSON came from, named in its errors (a setting, or a request's field). */
type Invalid = (field: string, why: string, cause?: unknown) => RpaError;

const configInvalid: Invalid = (field, why, cause) => new RpaError('CONFIG_INVALID', `${field}: ${why}`, { field, cause });
const requestInvalid: Invalid = (field, why, cause) => new RpaError('VALIDATION_FAILED', `${field}: ${why}`, { field, cause });

function checkedCron(cron: string, timeZone: string, field: string, invalid: Invalid): string {
  const fields = cron.trim().split(/\s+/);
  if (fields.length !== 5) throw invalid(field, `"${cron}" must be a cron expression of 5 fields (minute hour day-of-month month day-of-week)`);
  try {
    parseExpression(fields.join(' '), { tz: timeZone }).next();
  } catch (cause) {
    throw invalid(field, `"${cron}" is not a cron expression`, cause);
  }
  return fields.join(' ');
}

function checkedDuration(text: string, field: string, invalid: Invalid): number {
  const value = /^\s*\d+(\.\d+)?\s*[a-z]+\s*$/i.test(text) ? ms(text.trim() as ms.StringValue) : undefined;
  if (value === undefined || !Number.isFinite(value) || value <= 0 || value > DURATION_MAX_MS) {
    throw invalid(field, `"${text}" must be a duration of at most 7 days such as 90m, 2h or 1d`);
  }
  return value;
}

function checkedOnce(startsText: string, endsText: string, fields: { starts: string; ends: string }, invalid: Invalid, label?: string): MaintenanceWindow {
  const startsAt = parseOffsetTime(startsText);
  const endsAt = parseOffsetTime(endsText);
  if (!startsAt) throw invalid(fields.starts, `"${startsText}" must be an ISO 8601 time with its offset, e.g. 2026-12-24T22:00:00+02:00`);
  if (!endsAt) throw invalid(fields.ends, `"${endsText}" must be an ISO 8601 time with its offset, e.g. 2026-12-25T02:00:00+02:00`);
  if (endsAt.getTime() <= startsAt.getTime()) throw invalid(fields.ends, 'a window must end after it starts');
  return { kind: 'once', startsAt, endsAt, ...(label ? { label } : {}) };
}

/**
 * Parses `<P>_MAINTENANCE_WINDOWS`: windows separated by `;`, each either
 * `<cron> for <duration>` (`0 2 * * sun for 2h`: every Sunday 02:00 for two hours, in the
 * provider's time zone) or `<start>/<end>` (two ISO 8601 times with offsets: once).
 */
export function parseMaintenanceText(text: string, timeZone: string, field: string): MaintenanceWindow[] {
  return text
    .split(';')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const recurring = /^(.+?)\s+for\s+(\S+)$/i.exec(part);
      if (recurring) return { kind: 'recurring', cron: checkedCron(recurring[1]!, timeZone, field, configInvalid), durationMs: checkedDuration(recurring[2]!, field, configInvalid) } as const;
      const once = /^(\S+)\/(\S+)$/.exec(part);
      if (once) return checkedOnce(once[1]!, once[2]!, { starts: field, ends: field }, configInvalid);
      throw configInvalid(field, `"${part}" must be "<cron> for <duration>" (0 2 * * sun for 2h) or "<start>/<end>" (ISO times with offsets); windows separated by ";"`);
    });
}

/** The windows as JSON: what GET /providers/:name/windows shows and PUT takes. */
export function windowsToJson(w: ProviderWindows): WindowsJson {
  return {
    time_zone: w.timeZone,
    business_hours: w.businessHours?.text ?? null,
    maintenance: w.maintenance.map((m) =>
      m.kind === 'recurring'
        ? { cron: m.cron, duration: ms(m.durationMs), ...(m.label ? { label: m.label } : {}) }
        : { starts_at: m.startsAt.toISOString(), ends_at: m.endsAt.toISOString(), ...(m.label ? { label: m.label } : {}) },
    ),
  };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Validates the JSON form (a PUT body, or what an earlier PUT stored). Throws VALIDATION_FAILED
 * naming the field (`maintenance[1].duration`) and why.
 */
export function windowsFromJson(body: unknown, defaultTimeZone: string): ProviderWindows {
  const invalid = requestInvalid;
  if (!isRecord(body)) throw invalid('body', 'must be a JSON object with maintenance (a list) and optionally business_hours and time_zone');
  const known = new Set(['time_zone', 'business_hours', 'maintenance']);
  for (const key of Object.keys(body)) if (!known.has(key)) throw invalid(key, 'is not a field of the windows (time_zone, business_hours, maintenance)');
  const timeZone = body.time_zone ?? defaultTimeZone;
  if (typeof timeZone !== 'string' || !validZone(timeZone)) throw invalid('time_zone', 'must be an IANA time zone such as Africa/Johannesburg');
  let businessHours: BusinessHours | undefined;
  if (body.business_hours !== undefined && body.business_hours !== null) {
    if (typeof body.business_hours !== 'string') throw invalid('business_hours', 'must be a text such as "mon-fri 07:00-19:00", or null');
    try {
      businessHours = parseBusinessHours(body.business_hours, timeZone, { hours: 'business_hours', zone: 'time_zone' });
    } catch (cause) {
      throw invalid('business_hours', (cause as Error).message.replace(/^business_hours: /, ''), cause);
    }
  }
  const list = body.maintenance ?? [];
  if (!Array.isArray(list)) throw invalid('maintenance', 'must be a list of windows');
  if (list.length > 100) throw invalid('maintenance', 'must hold at most 100 windows');
  const maintenance = list.map((entry: unknown, i): MaintenanceWindow => {
    const field = `maintenance[${i}]`;
    if (!isRecord(entry)) throw invalid(field, 'must be an object: {cron, duration} or {starts_at, ends_at}, with an optional label');
    const label = entry.label;
    if (label !== undefined && (typeof label !== 'string' || label.length > 200)) throw invalid(`${field}.label`, 'must be a text of at most 200 characters');
    const keys = Object.keys(entry).filter((k) => k !== 'label').sort().join(',');
    if (keys === 'cron,duration') {
      if (typeof entry.cron !== 'string') throw invalid(`${field}.cron`, 'must be a cron expression');
      if (typeof entry.duration !== 'string') throw invalid(`${field}.duration`, 'must be a duration such as 90m or 2h');
      return { kind: 'recurring', cron: checkedCron(entry.cron, timeZone, `${field}.cron`, invalid), durationMs: checkedDuration(entry.duration, `${field}.duration`, invalid), ...(label ? { label } : {}) };
    }
    if (keys === 'ends_at,starts_at') {
      if (typeof entry.starts_at !== 'string') throw invalid(`${field}.starts_at`, 'must be an ISO 8601 time with its offset');
      if (typeof entry.ends_at !== 'string') throw invalid(`${field}.ends_at`, 'must be an ISO 8601 time with its offset');
      return checkedOnce(entry.starts_at, entry.ends_at, { starts: `${field}.starts_at`, ends: `${field}.ends_at` }, invalid, label as string | undefined);
    }
    throw invalid(field, 'must have either cron and duration (recurring) or starts_at and ends_at (once), and nothing else but a label');
  });
  return { timeZone, businessHours, maintenance };
}

function validZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
