/** A calendar date without a time zone. */
export interface LocalDate {
  year: number;
  month: number;
  day: number;
}

/** "Today" of the portals: the server's local date. */
export function todayLocal(now: Date = new Date()): LocalDate {
  return { year: now.getFullYear(), month: now.getMonth() + 1, day: now.getDate() };
}

function valid(year: number, month: number, day: number): LocalDate | undefined {
  if (month < 1 || month > 12 || day < 1) return undefined;
  const daysInMonth = new Date(year, month, 0).getDate();
  return day <= daysInMonth ? { year, month, day } : undefined;
}

/** Parses YYYY-MM-DD; undefined for a malformed or impossible date (2026-02-30). */
export function parseIsoDate(text: string): LocalDate | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text.trim());
  return m ? valid(Number(m[1]), Number(m[2]), Number(m[3])) : undefined;
}

/** Parses DD/MM/YYYY; undefined for a malformed or impossible date. */
export function parseDmyDate(text: string): LocalDate | undefined {
  const m = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(text.trim());
  return m ? valid(Number(m[3]), Number(m[2]), Number(m[1])) : undefined;
}

export function compareDates(a: LocalDate, b: LocalDate): number {
  return a.year - b.year || a.month - b.month || a.day - b.day;
}

/** True when the date is before the server's today. */
export function isPast(date: LocalDate, now: Date = new Date()): boolean {
  return compareDates(date, todayLocal(now)) < 0;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

export function formatIsoDate(d: LocalDate): string {
  return `${pad(d.year, 4)}-${pad(d.month)}-${pad(d.day)}`;
}

export function formatDmyDate(d: LocalDate): string {
  return `${pad(d.day)}/${pad(d.month)}/${pad(d.year, 4)}`;
}

/**
 * Checks an effective date: undefined when acceptable, else the error text to show.
 * `parse` decides the format (ISO or DD/MM/YYYY).
 */
export function effectiveDateError(text: string | undefined, parse: (t: string) => LocalDate | undefined, formatLabel: string): string | undefined {
  if (!text || !text.trim()) return 'Effective date is required';
  const date = parse(text);
  if (!date) return `Effective date must be a valid date (${formatLabel})`;
  if (isPast(date)) return 'Effective date cannot be in the past';
  return undefined;
}
