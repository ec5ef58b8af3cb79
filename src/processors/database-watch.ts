import { pingDatabase, type Db } from '../db/database.js';
import { coerceError } from '../errors/coerce-error.js';
import { repeatEvery, type Repeating } from '../infra/repeat-every.js';
import type { Logger } from '../logger.js';

/**
 * Watches Postgres for a worker: after `failuresToHold` failed pings in a row it calls `hold`
 * (stop taking batches: each would only be put off), and `resume` once Postgres answers again,
 * so the worker carries on by itself after an outage.
 */
export function watchDatabase(options: { db: Db; hold: () => Promise<void>; resume: () => void; logger: Logger; intervalMs?: number; failuresToHold?: number }): Repeating {
  let failures = 0;
  let holding = false;
  return repeatEvery(
    options.intervalMs ?? 2_000,
    async () => {
      try {
        await pingDatabase(options.db);
        failures = 0;
        if (holding) {
          holding = false;
          options.resume();
          options.logger.warn('Postgres answers again: taking batches');
        }
      } catch (err) {
        failures += 1;
        if (!holding && failures >= (options.failuresToHold ?? 2)) {
          holding = true;
          options.logger.error({ err: coerceError(err).message }, 'Postgres does not answer: no new batches until it does');
          await options.hold();
        }
      }
    },
    { logger: options.logger, what: 'Postgres watch' },
  );
}
