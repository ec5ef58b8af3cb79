import { providerNames } from '../../providers/descriptors.js';
import type { QueueRegistry } from '../../queues/queue-registry.js';

/**
 * Jobs that will want a browser soon, over every provider: jobs waiting (or backing off) on the
 * provider queues, plus `batchSize` for each batch run waiting or running. A batch run's real
 * size is at most `batchSize`, so this errs on the side of one browser too many.
 */
export async function queuedBrowserDemand(queues: QueueRegistry, batchSize: number, providers: readonly string[] = providerNames()): Promise<number> {
  const counts = await Promise.all(
    providers.map(async (provider) => {
      const jobs = await queues.providerJobs(provider).getJobCounts('waiting', 'prioritized', 'delayed');
      const runs = await queues.batchRuns(provider).getJobCounts('waiting', 'prioritized', 'active');
      const sum = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0);
      return sum(jobs) + sum(runs) * batchSize;
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}
