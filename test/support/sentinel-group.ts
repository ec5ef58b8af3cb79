import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'iovalkey';
import type { HostPort, ValkeyEndpoint } from '../../src/config/valkey-endpoint.js';
import { freePort } from '../../src/infra/free-port.js';
import { testRoot, uniquePrefix } from './shared-services.js';
import { startValkeyNode, valkeyBinary, type ValkeyNode } from './valkey-node.js';
import { until } from './worker-process.js';

export const SENTINEL_MASTER_NAME = 'rpa-test';
const DATA_PASSWORD = 'sentinel-group-data-password-0123';
const SENTINEL_PASSWORD = 'sentinel-group-sentinel-password-0123';

/**
 * A master with one replica and three sentinels watching them (quorum 2), each its own process
 * on a free port with a temporary folder, as Sentinel runs in production: data servers and
 * sentinels both with passwords. A master the sentinels see down for 2 s is failed over.
 */
export interface SentinelGroup {
  readonly name: string;
  /** What VALKEY_SENTINELS & co. say: the orchestrator's way in. */
  readonly endpoint: ValkeyEndpoint;
  readonly sentinels: readonly HostPort[];
  /** The two data servers, by port. */
  readonly servers: ReadonlyMap<number, ValkeyNode>;
  /** The master the sentinels name now. */
  master(): Promise<HostPort>;
  /** kill -9 the current master; resolves once the sentinels name the other server (its port). */
  failOver(timeoutMs?: number): Promise<{ killed: number; promoted: number }>;
  /** The servers' roles as they say themselves, by port ('master', 'slave', or 'down'). */
  roles(): Promise<Record<number, string>>;
  /** Connections to the sentinels other than the sentinels' own links to each other (CLIENT LIST lines). */
  clients(): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startSentinelGroup(options: { downAfterMs?: number } = {}): Promise<SentinelGroup> {
  const root = join(testRoot(), uniquePrefix('sentinel-group'));
  const server = valkeyBinary('server');
  const sentinelBinary = valkeyBinary('sentinel');
  const nodes: ValkeyNode[] = [];
  const servers = new Map<number, ValkeyNode>();
  try {
    const dataArgs = (port: number) => [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--dir', join(root, `server-${port}`),
      '--appendonly', 'yes',
      '--appendfsync', 'everysec',
      '--maxmemory-policy', 'noeviction',
      '--save', '',
      '--requirepass', DATA_PASSWORD,
      '--masterauth', DATA_PASSWORD,
      '--loglevel', 'warning',
    ];
    const masterPort = await freePort();
    const master = await startValkeyNode({ binary: server, args: dataArgs(masterPort), port: masterPort, dir: join(root, `server-${masterPort}`), password: DATA_PASSWORD, name: `valkey master ${masterPort}` });
    nodes.push(master);
    servers.set(masterPort, master);
    const replicaPort = await freePort();
    const replica = await startValkeyNode({
      binary: server,
      args: [...dataArgs(replicaPort), '--replicaof', '127.0.0.1', String(masterPort)],
      port: replicaPort,
      dir: join(root, `server-${replicaPort}`),
      password: DATA_PASSWORD,
      name: `valkey replica ${replicaPort}`,
    });
    nodes.push(replica);
    servers.set(replicaPort, replica);
    await until(async () => /master_link_status:up/.test(await info(replica, 'replication')), 30_000, 'the replica to sync with its master');

    const sentinels: HostPort[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const dir = join(root, `sentinel-${port}`);
      mkdirSync(dir, { recursive: true });
      writeSentinelConf(dir, port, masterPort, options.downAfterMs ?? 2_000);
      const sentinel = await startValkeyNode({ binary: sentinelBinary, args: [join(dir, 'sentinel.conf')], port, dir, password: SENTINEL_PASSWORD, name: `sentinel ${port}` });
      nodes.push(sentinel);
      sentinels.push({ host: '127.0.0.1', port });
    }

    const askOne = async <T>(s: HostPort, command: (client: Redis) => Promise<T>): Promise<T> => {
      const client = new Redis({ host: s.host, port: s.port, password: SENTINEL_PASSWORD, maxRetriesPerRequest: 1, retryStrategy: () => null, lazyConnect: true });
      client.on('error', () => undefined);
      try {
        await client.connect();
        return await command(client);
      } finally {
        client.disconnect();
      }
    };
    /** The first sentinel that answers. */
    const ask = async <T>(command: (client: Redis) => Promise<T>): Promise<T> => {
      let last: unknown;
      for (const s of sentinels) {
        try {
          return await askOne(s, command);
        } catch (err) {
          last = err;
        }
      }
      throw last;
    };
    const masterNow = async (): Promise<HostPort> => {
      const [host, port] = (await ask((c) => c.call('SENTINEL', 'get-master-addr-by-name', SENTINEL_MASTER_NAME))) as [string, string];
      return { host, port: Number(port) };
    };
    // Every sentinel knows the other two and the replica before anything is failed over.
    const knowsTheOthers = async (s: HostPort) => {
      const replies = (await askOne(s, (c) => c.call('SENTINEL', 'master', SENTINEL_MASTER_NAME))) as string[];
      const field = (name: string) => Number(replies[replies.indexOf(name) + 1]);
      return field('num-other-sentinels') === 2 && field('num-slaves') === 1;
    };
    await until(async () => (await Promise.all(sentinels.map((s) => knowsTheOthers(s).catch(() => false)))).every(Boolean), 60_000, 'the sentinels to know each other and the replica');

    const group: SentinelGroup = {
      name: SENTINEL_MASTER_NAME,
      endpoint: { mode: 'sentinel', sentinels, name: SENTINEL_MASTER_NAME, password: DATA_PASSWORD, sentinelPassword: SENTINEL_PASSWORD },
      sentinels,
      servers,
      master: masterNow,
      async failOver(timeoutMs = 60_000) {
        const old = await masterNow();
        await servers.get(old.port)!.kill();
        let promoted = old.port;
        await until(
          async () => {
            promoted = (await masterNow().catch(() => old)).port;
            return promoted !== old.port;
          },
          timeoutMs,
          'the sentinels to promote the replica',
        );
        await until(async () => /role:master/.test(await info(servers.get(promoted)!, 'replication').catch(() => '')), timeoutMs, 'the promoted replica to say it is the master');
        return { killed: old.port, promoted };
      },
      async roles() {
        const out: Record<number, string> = {};
        for (const [port, node] of servers) out[port] = (/role:(\w+)/.exec(await info(node, 'replication').catch(() => ''))?.[1] ?? 'down');
        return out;
      },
      async clients() {
        const lines: string[] = [];
        for (const s of sentinels) {
          const list = await askOne(s, async (c) => {
            const self = Number(await c.call('CLIENT', 'ID'));
            return (String(await c.call('CLIENT', 'LIST')).split('\n')).filter((l) => l.trim() !== '' && !l.includes(`id=${self} `));
          });
          // A sentinel's links to the others name themselves sentinel-<id>-cmd.
          lines.push(...list.filter((l) => !/ name=sentinel-/.test(l)).map((l) => `${s.port}: ${l}`));
        }
        return lines;
      },
      async stop() {
        await Promise.allSettled(nodes.map((n) => n.stop()));
      },
    };
    return group;
  } catch (error) {
    await Promise.allSettled(nodes.map((n) => n.stop()));
    throw error;
  }
}

function writeSentinelConf(dir: string, port: number, masterPort: number, downAfterMs: number): void {
  // A sentinel rewrites its own file (what it learns), so each has its own, in its own folder.
  writeFileSync(
    join(dir, 'sentinel.conf'),
    [
      `port ${port}`,
      'bind 127.0.0.1',
      'daemonize no',
      `dir ${dir}`,
      'loglevel warning',
      `requirepass ${SENTINEL_PASSWORD}`,
      // Sentinels talk to each other with the same password.
      `sentinel sentinel-pass ${SENTINEL_PASSWORD}`,
      `sentinel monitor ${SENTINEL_MASTER_NAME} 127.0.0.1 ${masterPort} 2`,
      `sentinel auth-pass ${SENTINEL_MASTER_NAME} ${DATA_PASSWORD}`,
      `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} ${downAfterMs}`,
      `sentinel failover-timeout ${SENTINEL_MASTER_NAME} 10000`,
      `sentinel parallel-syncs ${SENTINEL_MASTER_NAME} 1`,
      '',
    ].join('\n'),
  );
}

async function info(node: ValkeyNode, section: string): Promise<string> {
  const client = node.client();
  try {
    return await client.info(section);
  } finally {
    client.disconnect();
  }
}
