/**
 * One fleet member in a process of its own, for fleet.election.test.ts: a worker's part in the
 * fleet on the Kubernetes backend, against the test's fake API server, with the real Valkey and
 * the real provider queues. Runs until SIGTERM (closes: pools stopped, lock given up) or SIGKILL.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { queuedBrowserDemand } from '../../../src/browser/fleet/queue-demand.js';
import { createLogger } from '../../../src/logger.js';
import { QueueRegistry } from '../../../src/queues/queue-registry.js';
import { createValkey } from '../../../src/queues/valkey.js';
import { kubeFleet } from './fleet-fixture.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

const kubeConfig = new KubeConfig();
kubeConfig.loadFromOptions({
  clusters: [{ name: 'fake', server: env('FAKE_API_URL'), skipTLSVerify: true }],
  users: [{ name: 'member', token: env('FAKE_API_TOKEN') }],
  contexts: [{ name: 'fake', cluster: 'fake', user: 'member' }],
  currentContext: 'fake',
});
const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent', name: env('POD_NAME') });
const redis = createValkey(env('VALKEY_URL'), 'producer');
const queues = new QueueRegistry(redis, env('QUEUE_PREFIX'));
const fleet = kubeFleet({
  kubeConfig,
  redis,
  prefix: env('QUEUE_PREFIX'),
  pod: { name: env('POD_NAME'), uid: env('POD_UID') },
  poolPort: Number(env('POOL_PORT')),
  maxPools: 4,
  jobsPerPool: 10,
  demand: () => queuedBrowserDemand(queues, 10),
  intervalMs: 200,
  leaderTtlMs: 1_500,
  logger,
});

process.on('SIGTERM', () => {
  void fleet
    .close()
    .then(() => queues.close())
    .finally(() => {
      redis.disconnect();
      process.exit(0);
    });
});
await fleet.start();
process.stdout.write(`started ${JSON.stringify({ leader: fleet.isLeader() })}\n`);
