import { z } from 'zod';
import type { Parser } from './setting.js';

/** Parsers of setting texts; each message says what the value must be. */
export const int = (min: number, max = Number.MAX_SAFE_INTEGER): Parser<number> =>
  z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(min).max(max));

export const text: Parser<string> = z.string().min(1, 'must not be empty');

export const url: Parser<string> = z.string().url('must be a URL').transform((u) => u.replace(/\/+$/, ''));

export const secret = (minLength: number): Parser<string> => z.string().min(minLength, `must be at least ${minLength} characters`);

export const base32: Parser<string> = z.string().regex(/^[A-Z2-7]+=*$/i, 'must be base32');

export const oneOf = <T extends string>(values: readonly [T, ...T[]]): Parser<T> => z.enum(values);

export const pattern = (regex: RegExp, message: string): Parser<string> => z.string().regex(regex, message);

/** A comma-separated list, lower-cased, blanks dropped. */
export const list: Parser<string[]> = z.string().transform((v) =>
  v
    .split(',')
    .map((item) => item.trim().toLowerCase())
    .filter(Boolean),
);

/** A comma-separated list of names, each one of `allowed`, at least one. */
export const listOf = <T extends string>(allowed: readonly T[], what: string): Parser<T[]> =>
  list.superRefine((items, ctx) => {
    for (const item of items) {
      if (!(allowed as readonly string[]).includes(item)) ctx.addIssue({ code: 'custom', message: `unknown ${what} "${item}" (known: ${allowed.join(', ')})` });
    }
    if (items.length === 0) ctx.addIssue({ code: 'custom', message: `no ${what} given` });
  }) as unknown as Parser<T[]>;

/** An IANA time zone the runtime knows. */
export const timeZone: Parser<string> = z.string().refine((zone) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}, 'must be an IANA time zone such as Africa/Johannesburg');

/** true/false (also yes/no, 1/0). */
export const bool: Parser<boolean> = z
  .string()
  .transform((v) => v.trim().toLowerCase())
  .pipe(z.enum(['true', 'false', 'yes', 'no', '1', '0'], { errorMap: () => ({ message: 'must be true or false' }) }))
  .transform((v) => v === 'true' || v === 'yes' || v === '1');
