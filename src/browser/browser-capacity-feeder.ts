import { coerceError } from '../errors/coerce-error.js';
import type { Logger } from '../logger.js';
import { providerNames } from '../providers/descriptors.js';
import type { QueueRegistry } from '../queues/queue-registry.js';
import type { BrowserServiceManager } from './browser-service-manager.js';

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

export interface CapacityFeederOptions {
  manager: BrowserServiceManager;
  /** How many jobs want a browser now (e.g. `queuedBrowserDemand`). */
  measure: () => Promise<number>;
  intervalMs: number;
  logger: Logger;
}

/**
 * Feeds the queue depth to the browser service manager every `intervalMs`, one round at a time,
 * so the number of browser services follows the queues. A failed round is logged and the next
 * one tries again.
 */
export class BrowserCapacityFeeder {
  private timer?: NodeJS.Timeout;
  private round?: Promise<void>;
  private closed = false;

  constructor(private readonly o: CapacityFeederOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.o.intervalMs);
    this.timer.unref();
    void this.tick();
  }

  /** One round now, unless one is running; resolves when it ends. */
  tick(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.round ??= (async () => {
      try {
        const queuedJobs = await this.o.measure();
        await this.o.manager.ensureCapacity({ queuedJobs });
      } catch (err) {
        this.o.logger.warn({ err: coerceError(err).toJSON() }, 'browser capacity round failed');
      } finally {
        this.round = undefined;
      }
    })();
    return this.round;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.round;
  }
}
