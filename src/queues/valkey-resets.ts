import { randomUUID } from 'node:crypto';
import type { Redis } from 'iovalkey';
import { coerceError } from '../errors/coerce-error.js';
import type { Logger } from '../logger.js';
import { repeatEvery, type Repeating } from '../infra/repeat-every.js';

/**
 * Notices when Valkey lost what this process put there (restarted without its data, wiped
 * with FLUSHALL, failed over to an empty replica) and calls `restore` so job schedulers, session
 * caps and the like come back without a restart. It keeps a marker key of its own: a marker
 * gone (or replaced) means the data is not the data it wrote. `restore` must be idempotent;
 * it also runs once at start and after every reconnect.
 */
export function watchValkeyResets(options: { redis: Redis; key: string; restore: () => Promise<void>; logger: Logger; intervalMs?: number }): Repeating {
  const { redis, key, logger } = options;
  const marker = randomUUID();
  let written = false;
  let dirty = false;
  // A reconnect may follow a restart that lost data the marker check would only see later.
  const onReady = () => {
    dirty = true;
  };
  redis.on('ready', onReady);
  const check = async () => {
    const seen = await redis.get(key);
    const lost = written && seen === null;
    if (!written || lost || dirty) {
      if (lost) logger.warn({ key }, 'Valkey lost its data (wiped or restarted empty): restoring job schedulers and session caps');
      dirty = false;
      await options.restore();
      // Any process's marker will do: one of ours being present means nothing was lost since.
      if (seen === null) await redis.set(key, marker);
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
