import { Writable } from 'node:stream';
import { Redis } from 'iovalkey';
import { TOTP_PERIOD_MS } from '../../src/totp/totp-code.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { sharedValkey } from '../support/shared-services.js';

/** A new connection to the shared test Valkey; the caller quits it. */
export async function connectSharedValkey(): Promise<Redis> {
  const valkey = await sharedValkey();
  return new Redis(valkey.url, { maxRetriesPerRequest: 3 });
}

/**
 * A clock running at real speed but shifted so that, right now, it reads `msIntoStep`
 * milliseconds into a TOTP step. Waits computed from it take real time, so a test can put
 * a step boundary a second away instead of waiting up to 30 s for one.
 */
export function shiftedClock(msIntoStep: number): () => number {
  const real = Date.now();
  const offset = (((msIntoStep - (real % TOTP_PERIOD_MS)) % TOTP_PERIOD_MS) + TOTP_PERIOD_MS) % TOTP_PERIOD_MS;
  return () => Date.now() + offset;
}

/** Like shiftedClock, but the test can also jump it forward (as a blocked event loop would). */
export function adjustableClock(msIntoStep: number): { now: () => number; advance: (ms: number) => void } {
  const base = shiftedClock(msIntoStep);
  let extra = 0;
  return { now: () => base() + extra, advance: (ms) => (extra += ms) };
}

/** A debug-level logger whose output the test can read back. */
export function capturingLogger(): { logger: Logger; output: () => string } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), output: () => chunks.join('') };
}

/** Every key under a pattern, by SCAN. */
export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}
