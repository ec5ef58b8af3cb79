import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Paths pino blanks out wherever they appear in a log object. Credentials are also kept
 * out of log objects by construction; this is the second line of defence.
 */
/** Secret fields, found at the top of a log object and up to four levels down (`{ config }` → providers → openserve → descriptor → practiceAccount → password). */
const SECRET_FIELDS = [
  'password',
  'totpSecret',
  'totp_secret',
  'otp',
  'apiKey',
  'api_key',
  'bootstrapKey',
  'token',
  'poolTokens',
  'secret',
  'callbackSecret',
  'callback_secret',
  'csrf',
  'sessionId',
  'authorization',
  'cookie',
  'wsEndpoint',
  'connectionString',
  'practiceAccount',
  'databaseUrl',
  'valkeyUrl',
];

export const REDACT_PATHS = [
  ...SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`, `*.*.*.${f}`, `*.*.*.*.${f}`]),
  'headers["x-api-key"]',
  'headers["x-xsrf-token"]',
  'headers["set-cookie"]',
  '*.headers["x-api-key"]',
  '*.headers["x-xsrf-token"]',
  '*.headers["set-cookie"]',
  'req.headers["x-api-key"]',
  'req.headers["x-xsrf-token"]',
  'res.headers["set-cookie"]',
];

/**
 * The log object with every frozen plain object or array on the way down (the configuration is
 * deeply frozen) replaced by a copy: pino's redaction blanks a path by writing to it, which
 * throws on a frozen object. Unfrozen parts are shared, never changed.
 */
function thawed(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (!Array.isArray(value) && proto !== Object.prototype && proto !== null) return value;
  let copy: Record<string, unknown> | unknown[] | undefined;
  const source = value as Record<string, unknown>;
  for (const key of Object.keys(source)) {
    const child = source[key];
    const next = thawed(child, depth + 1);
    if (next !== child) {
      copy ??= Array.isArray(value) ? [...value] : { ...source };
      (copy as Record<string, unknown>)[key] = next;
    }
  }
  if (!copy && Object.isFrozen(value)) copy = Array.isArray(value) ? [...value] : { ...source };
  return copy ?? value;
}

export function createLogger(options: { level?: string; name?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const opts: LoggerOptions = {
    level: options.level ?? 'info',
    name: options.name,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    formatters: { log: (object) => thawed(object) as Record<string, unknown> },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return options.destination ? pino(opts, options.destination as pino.DestinationStream) : pino(opts);
}

/** A logger that drops everything; for tests and library defaults. */
export const silentLogger: Logger = pino({ level: 'silent' });
