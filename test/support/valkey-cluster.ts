import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ValkeyEndpoint } from '../../src/config/valkey-endpoint.js';
import { freePort } from '../../src/infra/free-port.js';
import { testRoot, uniquePrefix } from './shared-services.js';
import { startValkeyNode, valkeyBinary, type ValkeyNode } from './valkey-node.js';
import { until } from './worker-process.js';

const PASSWORD = 'valkey-cluster-test-password-0123';

/** Three masters (no replicas) with `--cluster-enabled yes`, joined by `redis-cli --cluster create`. */
export interface ValkeyCluster {
  /** What VALKEY_CLUSTER_NODES and VALKEY_PASSWORD say. */
  readonly endpoint: ValkeyEndpoint;
  readonly nodes: readonly ValkeyNode[];
  stop(): Promise<void>;
}

export async function startValkeyCluster(masters = 3): Promise<ValkeyCluster> {
  const root = join(testRoot(), uniquePrefix('valkey-cluster'));
  const server = valkeyBinary('server');
  const nodes: ValkeyNode[] = [];
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      // The cluster bus gets a free port of its own (the default, port + 10000, may be taken).
      const busPort = await freePort();
      const dir = join(root, `node-${port}`);
      nodes.push(
        await startValkeyNode({
          binary: server,
          args: [
            '--port', String(port),
            '--cluster-port', String(busPort),
            '--bind', '127.0.0.1',
            '--dir', dir,
            '--cluster-enabled', 'yes',
            '--cluster-config-file', join(dir, 'nodes.conf'),
            '--cluster-node-timeout', '5000',
            '--appendonly', 'yes',
            '--appendfsync', 'everysec',
            '--maxmemory-policy', 'noeviction',
            '--save', '',
            '--requirepass', PASSWORD,
            '--masterauth', PASSWORD,
            '--loglevel', 'warning',
          ],
          port,
          dir,
          password: PASSWORD,
          name: `cluster node ${port}`,
        }),
      );
    }
    // REDISCLI_AUTH: the password stays off the command line (and out of its warning).
    await promisify(execFile)(valkeyBinary('cli'), ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-yes'], {
      env: { PATH: process.env.PATH, REDISCLI_AUTH: PASSWORD },
    });
    const clusterOk = async (node: ValkeyNode) => {
      const client = node.client();
      try {
        return /cluster_state:ok/.test(String(await client.call('CLUSTER', 'INFO'))) && (await client.call('CLUSTER', 'NODES') as string).trim().split('\n').length === masters;
      } finally {
        client.disconnect();
      }
    };
    await until(async () => (await Promise.all(nodes.map((n) => clusterOk(n).catch(() => false)))).every(Boolean), 60_000, 'every node to see the cluster ok');
    return {
      endpoint: { mode: 'cluster', nodes: nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), password: PASSWORD },
      nodes,
      stop: async () => {
        await Promise.allSettled(nodes.map((n) => n.stop()));
      },
    };
  } catch (error) {
    await Promise.allSettled(nodes.map((n) => n.stop()));
    throw error;
  }
}
