import type { Logger } from '../logger.js';
import type { QueueRegistry } from './queue-registry.js';

/** How often a paused provider's queues are paused again (a Valkey restored or wiped forgets it). */
const REASSERT_MS = 30_000;

/**
 * Shows a paused provider as paused queues (its job queue and its batch runs) in Bull Board and
 * to BullMQ's workers, following the pause kept in Postgres. Postgres stays the authority: this
 * only mirrors it, on each transition, and again now and then while the provider stays paused.
 */
export class PausedQueues {
  private readonly known = new Map<string, { paused: boolean; at: number }>();

  constructor(
    private readonly queues: QueueRegistry,
    private readonly logger: Logger,
  ) {}

  async mirror(provider: string, paused: boolean): Promise<void> {
    const last = this.known.get(provider);
    if (last && last.paused === paused && (!paused || Date.now() - last.at < REASSERT_MS)) return;
    const targets = [this.queues.providerJobs(provider), this.queues.batchRuns(provider)];
    await Promise.all(targets.map((q) => (paused ? q.pause() : q.resume())));
    if (last?.paused !== paused) this.logger.info({ provider, paused }, paused ? 'provider queues paused' : 'provider queues resumed');
    this.known.set(provider, { paused, at: Date.now() });
  }
}
