import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Paths pino blanks out wherever they appear in a log object. Credentials are also kept
 * out of log objects by construction; this is the second line of defence.
 */
export const REDACT_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'totpSecret',
  '*.totpSecret',
  '*.*.totpSecret',
  'otp',
  '*.otp',
  'apiKey',
  '*.apiKey',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'wsEndpoint',
  '*.wsEndpoint',
  'connectionString',
  '*.connectionString',
];

export function createLogger(options: { level?: string; name?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const opts: LoggerOptions = {
    level: options.level ?? 'info',
    name: options.name,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return options.destination ? pino(opts, options.destination as pino.DestinationStream) : pino(opts);
}

/** A logger that drops everything; for tests and library defaults. */
export const silentLogger: Logger = pino({ level: 'silent' });
