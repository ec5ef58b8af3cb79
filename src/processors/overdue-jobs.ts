import type { Db } from '../db/database.js';
import { expireOverdueJobs } from '../db/job-transitions.js';
import { repeatEvery, type Repeating } from '../infra/repeat-every.js';
import type { Logger } from '../logger.js';

/**
 * Fails the waiting jobs whose deadline has passed (DEADLINE_EXCEEDED), wherever they wait: a
 * paused provider, a maintenance window, a long queue. Their callbacks go out at once; a job
 * reached by a running batch first is failed the same way by its run.
 */
export class OverdueJobs {
  private schedule?: Repeating;

  constructor(
    private readonly db: Db,
    private readonly jobsEnded: (ids: string[]) => Promise<void>,
    private readonly logger: Logger,
  ) {}

  start(intervalMs = 5_000): void {
    this.schedule ??= repeatEvery(intervalMs, () => this.pass(), { logger: this.logger, what: 'deadline sweep' });
  }

  async pass(): Promise<string[]> {
    const ids = await expireOverdueJobs(this.db, 'deadline-sweep');
    if (ids.length > 0) {
      await this.jobsEnded(ids);
      this.logger.warn({ count: ids.length, job_ids: ids.slice(0, 20) }, 'jobs failed: their deadline passed while they waited (DEADLINE_EXCEEDED)');
    }
    return ids;
  }

  async close(): Promise<void> {
    await this.schedule?.close();
    this.schedule = undefined;
  }
}
