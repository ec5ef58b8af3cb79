import { Redis, type RedisOptions } from 'iovalkey';

/**
 * Valkey connections. Workers need `maxRetriesPerRequest: null` (blocking commands must wait
 * out a reconnect); producers on a request path fail fast instead (no offline queue), so an
 * API request never hangs while Valkey is down.
 */
export function createValkey(url: string, kind: 'worker' | 'producer', extra: RedisOptions = {}): Redis {
  const options: RedisOptions =
    kind === 'worker'
      ? { maxRetriesPerRequest: null, enableReadyCheck: true }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2_000 };
  const client = new Redis(url, {
    ...options,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    ...extra,
  });
  // Connection errors surface through commands and health checks; unhandled they would crash the process.
  client.on('error', () => undefined);
  return client;
}
