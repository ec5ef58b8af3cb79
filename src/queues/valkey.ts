import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'iovalkey';
import type { ValkeyEndpoint } from '../config/valkey-endpoint.js';

/** A connection to Valkey: one server (directly or through Sentinel) or a Valkey Cluster. */
export type ValkeyClient = Redis | Cluster;

export type ConnectionKind = 'worker' | 'producer';

export interface ValkeyExtraOptions {
  /** Queue commands while (re)connecting; a producer's default is to fail them at once. */
  enableOfflineQueue?: boolean;
}

const retryStrategy = (times: number) => Math.min(times * 200, 2_000);

/**
 * After a failover a connection may still reach the old master, now a replica: reconnect (the
 * sentinels name the new master) and send the command again.
 */
const reconnectOnReadOnly = (error: Error) => (error.message.startsWith('READONLY') ? 2 : false);

/**
 * Valkey connections, the one place they are made. Workers need `maxRetriesPerRequest: null`
 * (blocking commands must wait out a reconnect or a failover); producers on a request path fail
 * fast instead (no offline queue), so an API request never hangs while Valkey is down or failing
 * over. A string is one server's URL.
 */
export function createValkey(endpoint: string | { mode: 'server'; url: string }, kind: ConnectionKind, extra?: ValkeyExtraOptions): Redis;
export function createValkey(endpoint: ValkeyEndpoint, kind: ConnectionKind, extra?: ValkeyExtraOptions): ValkeyClient;
export function createValkey(endpoint: ValkeyEndpoint | string, kind: ConnectionKind, extra: ValkeyExtraOptions = {}): ValkeyClient {
  const target: ValkeyEndpoint = typeof endpoint === 'string' ? { mode: 'server', url: endpoint } : endpoint;
  const perCommand: RedisOptions =
    kind === 'worker'
      ? { maxRetriesPerRequest: null, enableReadyCheck: true }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2_000 };
  let client: ValkeyClient;
  switch (target.mode) {
    case 'server':
      client = new Redis(target.url, { ...perCommand, retryStrategy, reconnectOnError: reconnectOnReadOnly, ...extra });
      break;
    case 'sentinel':
      client = new Redis({
        ...perCommand,
        sentinels: target.sentinels.map((s) => ({ host: s.host, port: s.port })),
        name: target.name,
        password: target.password,
        sentinelPassword: target.sentinelPassword,
        // No failover detector (+switch-master subscriptions on every sentinel): iovalkey's leaves
        // those subscriber connections behind, reconnecting forever, when a connection is closed
        // around a failover (seen: 12 left after one system closed). A killed master drops the
        // connection, and a demoted one answers READONLY: both reconnect to the master the
        // sentinels name now.
        failoverDetector: false,
        retryStrategy,
        sentinelRetryStrategy: retryStrategy,
        reconnectOnError: reconnectOnReadOnly,
        ...extra,
      });
      break;
    case 'cluster': {
      const { enableOfflineQueue, ...redisOptions } = perCommand;
      const options: ClusterOptions = {
        enableReadyCheck: true,
        enableOfflineQueue: extra.enableOfflineQueue ?? enableOfflineQueue ?? true,
        clusterRetryStrategy: retryStrategy,
        // A failover inside the cluster: retry on the new owner of the slot rather than fail.
        retryDelayOnFailover: 200,
        retryDelayOnClusterDown: 300,
        retryDelayOnTryAgain: 200,
        slotsRefreshTimeout: 2_000,
        redisOptions: { ...redisOptions, password: target.password, reconnectOnError: reconnectOnReadOnly },
      };
      client = new Cluster(
        target.nodes.map((n) => ({ host: n.host, port: n.port })),
        options,
      );
      break;
    }
  }
  // Connection errors surface through commands and health checks; unhandled they would crash the process.
  client.on('error', () => undefined);
  return client;
}
