import { coerceError } from '../errors/coerce-error.js';
import type { Logger } from '../logger.js';

export interface Repeating {
  /** Stops the schedule and waits for a round in flight. */
  close(): Promise<void>;
}

/**
 * Runs `task` now and then `intervalMs` after each round ends (never two rounds at once). A
 * failed round is logged as `what` and the next one tries again.
 */
export function repeatEvery(intervalMs: number, task: () => Promise<unknown>, options: { logger: Logger; what: string }): Repeating {
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<void> | undefined;
  let closed = false;
  const tick = () => {
    round = task()
      .then(() => undefined)
      .catch((err: unknown) => options.logger.warn({ err: coerceError(err).toJSON() }, `${options.what} failed; will retry`))
      .finally(() => {
        round = undefined;
        if (!closed) timer = setTimeout(tick, intervalMs).unref();
      });
  };
  timer = setTimeout(tick, 0).unref();
  return {
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      await round;
    },
  };
}
