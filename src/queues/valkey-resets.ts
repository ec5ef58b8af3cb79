import { randomUUID } from 'node:crypto';
import type { ValkeyClient } from './valkey.js';
import { coerceError } from '../errors/coerce-error.js';
import type { Logger } from '../logger.js';
import { repeatEvery, type Repeating } from '../infra/repeat-every.js';

/**
 * Notices when Valkey lost what this process put there (restarted without its data, wiped
 * with FLUSHALL, failed over to an empty replica) and calls `restore` so job schedulers, session
 * caps and the like come back without a restart. It keeps marker keys of its own, one in each
 * hash tag whose data `restore` puts back (on a Valkey Cluster each may live on another node, and
 * one node may lose its data alone): a marker gone (or replaced) means the data is not the data
 * it wrote. `restore` must be idempotent; it also runs once at start and after every reconnect.
 */
export function watchValkeyResets(options: { redis: ValkeyClient; keys: readonly string[]; restore: () => Promise<void>; logger: Logger; intervalMs?: number }): Repeating {
  const { redis, keys, logger } = options;
  const marker = randomUUID();
  let written = false;
  let dirty = false;
  // A reconnect may follow a restart that lost data the marker check would only see later.
  const onReady = () => {
    dirty = true;
  };
  redis.on('ready', onReady);
  const check = async () => {
    // One GET each: on a Cluster the keys are in different slots.
    const seen = await Promise.all(keys.map((key) => redis.get(key)));
    const gone = keys.filter((_, i) => seen[i] === null);
    const lost = written && gone.length > 0;
    if (!written || lost || dirty) {
      if (lost) logger.warn({ keys: gone }, 'Valkey lost its data (wiped, restarted empty, or failed over to a replica without it): restoring job schedulers and session caps');
      dirty = false;
      await options.restore();
      // Any process's marker will do: one of ours being present means nothing was lost since.
      for (const key of gone) await redis.set(key, marker);
      written = true;
    }
  };
  const schedule = repeatEvery(options.intervalMs ?? 5_000, () => check().catch((err: unknown) => logger.debug({ err: coerceError(err).message }, 'Valkey reset check failed; trying again')), {
    logger,
    what: 'Valkey reset check',
  });
  return {
    close: async () => {
      redis.off('ready', onReady);
      await schedule.close();
    },
  };
}
