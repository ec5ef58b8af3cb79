import cronParser from 'cron-parser';
import { RpaError } from '../errors/failures.js';

// cron-parser is CommonJS: its functions hang off the default export.
const { parseExpression } = cronParser;

/**
 * Business hours as cron expressions: each window opens on one cron expression and closes on
 * another, in one IANA time zone. Whether a moment lies inside is asked of cron-parser (the
 * parser BullMQ runs the schedules with; time zones by luxon): the latest opening before it is
 * later than the latest closing. No date arithmetic of our own.
 */
export interface BusinessHours {
  /** As configured, e.g. `mon-fri 07:00-19:00`. */
  text: string;
  timeZone: string;
  windows: ReadonlyArray<{ opens: string; closes: string }>;
}

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const WINDOW = /^([a-z]{3})(?:-([a-z]{3}))?\s+(\d{2}):(\d{2})-(\d{2}):(\d{2})$/i;

/** The settings (or request fields) the hours and their zone came from, named in errors. */
export interface HoursFields {
  hours: string;
  zone: string;
}

const BROWSER_FIELDS: HoursFields = { hours: 'BROWSER_BUSINESS_HOURS', zone: 'BROWSER_TIME_ZONE' };

/**
 * Parses `mon-fri 07:00-19:00` (a day range may wrap the week, `fri-mon`; a window may pass
 * midnight, `22:00-06:00`, and then belongs to the day it opens; `24:00` is the midnight that
 * ends a day), or several such windows separated by commas, in `timeZone`.
 */
export function parseBusinessHours(text: string, timeZone: string, fields: HoursFields = BROWSER_FIELDS): BusinessHours {
  const invalid = (why: string, cause?: unknown) => new RpaError('CONFIG_INVALID', `${fields.hours}: ${why}`, { field: fields.hours, cause });
  const windows = text.split(',').map((part) => cronWindow(part.trim(), invalid));
  if (windows.length === 0) throw invalid('no window given');
  try {
    // An unknown zone parses, and fails once a date is asked for.
    parseExpression(windows[0]!.opens, { tz: timeZone }).prev();
  } catch (cause) {
    throw new RpaError('CONFIG_INVALID', `${fields.zone}: unknown time zone "${timeZone}"`, { field: fields.zone, cause });
  }
  return Object.freeze({ text, timeZone, windows: Object.freeze(windows) });
}

/** One window as the two cron expressions that open and close it. */
function cronWindow(part: string, invalid: (why: string, cause?: unknown) => RpaError): { opens: string; closes: string } {
  const m = WINDOW.exec(part);
  if (!m) throw invalid('must look like "mon-fri 07:00-19:00" (windows separated by commas)');
  const from = DAYS.indexOf(m[1]!.toLowerCase() as (typeof DAYS)[number]);
  const to = m[2] === undefined ? from : DAYS.indexOf(m[2].toLowerCase() as (typeof DAYS)[number]);
  if (from < 0 || to < 0) throw invalid(`unknown weekday in "${part}"`);
  const days: number[] = [];
  for (let d = from; ; d = (d + 1) % 7) {
    days.push(d);
    if (d === to) break;
  }
  const [startH, startM, endH, endM] = [m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number];
  const bad = (h: number, min: number, allow24: boolean) => min > 59 || h > 24 || (h === 24 && (!allow24 || min > 0));
  if (bad(startH, startM, false) || bad(endH, endM, true)) throw invalid(`bad time in "${part}"`);
  // A window that ends at or before its start ends the next day (24:00 is the next day's 00:00).
  const nextDay = endH === 24 || endH * 60 + endM <= startH * 60 + startM;
  const closeDays = nextDay ? days.map((d) => (d + 1) % 7) : days;
  const dow = (list: number[]) => [...new Set(list)].sort((a, b) => a - b).join(',');
  const opens = `${startM} ${startH} * * ${dow(days)}`;
  const closes = `${endH === 24 ? 0 : endM} ${endH === 24 ? 0 : endH} * * ${dow(closeDays)}`;
  for (const expression of [opens, closes]) {
    try {
      parseExpression(expression);
    } catch (cause) {
      throw invalid(`"${part}" does not make a schedule`, cause);
    }
  }
  return { opens, closes };
}

/** The latest time `expression` fired at or before `now`, in `timeZone`. */
export function lastFiring(expression: string, now: Date, timeZone: string): number {
  // prev() is strictly before currentDate: one millisecond later makes "at `now`" count.
  return parseExpression(expression, { currentDate: new Date(now.getTime() + 1), tz: timeZone }).prev().getTime();
}

/**
 * True when `now` lies inside a window: its latest opening is no earlier than its latest
 * closing (a closing and an opening at the same moment, as in `00:00-24:00` every day, keep it open).
 */
export function inBusinessHours(hours: BusinessHours | undefined, now: Date): boolean {
  if (!hours) return false;
  return hours.windows.some((w) => lastFiring(w.opens, now, hours.timeZone) >= lastFiring(w.closes, now, hours.timeZone));
}

/** The first time `expression` fires after `now`, in `timeZone`. */
export function nextFiring(expression: string, now: Date, timeZone: string): number {
  return parseExpression(expression, { currentDate: now, tz: timeZone }).next().getTime();
}

/** When the hours next open (`now` itself when they are open). */
export function nextOpening(hours: BusinessHours, now: Date): Date {
  if (inBusinessHours(hours, now)) return now;
  return new Date(Math.min(...hours.windows.map((w) => nextFiring(w.opens, now, hours.timeZone))));
}

/** When the window `now` lies in closes; undefined when the hours are closed. */
export function nextClosing(hours: BusinessHours, now: Date): Date | undefined {
  const open = hours.windows.filter((w) => lastFiring(w.opens, now, hours.timeZone) >= lastFiring(w.closes, now, hours.timeZone));
  if (open.length === 0) return undefined;
  return new Date(Math.max(...open.map((w) => nextFiring(w.closes, now, hours.timeZone))));
}
