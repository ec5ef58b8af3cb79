import { z } from 'zod';
import { isIP } from 'node:net';
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
/** A comma-separated list of TCP ports (1 to 65535), at least one. */
export const ports: Parser<number[]> = list.superRefine((items, ctx) => {
  for (const item of items) {
    if (!/^\d{1,5}$/.test(item) || Number(item) < 1 || Number(item) > 65535) ctx.addIssue({ code: 'custom', message: `"${item}" is not a port (1 to 65535)` });
  }
  if (items.length === 0) ctx.addIssue({ code: 'custom', message: 'no port given' });
}).transform((items) => items.map(Number)) as unknown as Parser<number[]>;

/**
 * Whole numbers per name, e.g. `submitter:600,viewer:600`: each name one of `names`; a name left
 * out keeps its value from `defaults`.
 */
export const perName = <T extends string>(names: readonly T[], defaults: Readonly<Record<T, number>>): Parser<Record<T, number>> =>
  list.transform((items, ctx) => {
    const out = { ...defaults } as Record<T, number>;
    for (const item of items) {
      const m = /^([a-z]+)\s*[:=]\s*(\d{1,9})$/.exec(item);
      if (!m || !(names as readonly string[]).includes(m[1]!)) {
        ctx.addIssue({ code: 'custom', message: `"${item}" is not <name>:<number> with a name of ${names.join(', ')}` });
        return z.NEVER;
      }
      out[m[1] as T] = Number(m[2]);
    }
    return out;
  }) as unknown as Parser<Record<T, number>>;

/** What Express's `trust proxy` gets: `false`, a hop count, or the proxies' addresses and subnets. */
export type TrustProxy = false | number | string[];

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function isAddressOrSubnet(entry: string): boolean {
  if (PROXY_NAMES.has(entry)) return true;
  const [address, prefix, more] = entry.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || more !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/**
 * `false` (no proxy: the socket's address is the client's), a number of proxy hops to trust, or a
 * comma-separated list of proxy addresses and subnets (`loopback`, `10.128.0.0/14`). `true`
 * (trust any X-Forwarded-For) is refused: every client could then pick its own address.
 */
export const trustProxy: Parser<TrustProxy> = z.string().transform((value, ctx): TrustProxy => {
  const v = value.trim().toLowerCase();
  if (v === 'false' || v === '0') return false;
  if (/^\d{1,2}$/.test(v)) return Number(v);
  if (v === 'true') {
    ctx.addIssue({ code: 'custom', message: 'true would trust any X-Forwarded-For: give a hop count (1 for one proxy) or the proxies\' addresses' });
    return z.NEVER;
  }
  const entries = v.split(',').map((e) => e.trim()).filter(Boolean);
  const bad = entries.find((e) => !isAddressOrSubnet(e));
  if (bad !== undefined || entries.length === 0) {
    ctx.addIssue({ code: 'custom', message: `must be false, a hop count, or addresses/subnets (loopback, 10.0.0.0/8)${bad ? `; "${bad}" is none of them` : ''}` });
    return z.NEVER;
  }
  return entries;
}) as unknown as Parser<TrustProxy>;
