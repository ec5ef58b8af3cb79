import { inBusinessHours, type BusinessHours } from '../../calendar/business-hours.js';

/** A schedule's next run, as far as warming browsers is concerned (src/db/schedule-store.ts). */
export interface UpcomingRun {
  scheduleId: string;
  at: Date;
  jobCount: number;
}

export interface WarmScheduleOptions {
  /** Pools kept during business hours with nothing queued (BROWSER_WARM_MIN). */
  warmMin: number;
  /** Undefined: never (BROWSER_BUSINESS_HOURS unset). */
  businessHours?: BusinessHours;
  /** How long before a schedule's run its pools are started (BROWSER_PREWARM_MS). */
  prewarmMs: number;
  /** Queued jobs one pool absorbs (BROWSER_JOBS_PER_POOL): a run of many jobs warms more than one pool. */
  jobsPerPool: number;
  /** Schedules' next runs between two moments (nextScheduleRuns); none without a database. */
  upcomingRuns?: (from: Date, until: Date) => Promise<UpcomingRun[]>;
}

export interface WarmMinimum {
  pools: number;
  /** Why, for the log and /health: business hours, and the schedules about to run. */
  businessHours: boolean;
  schedules: string[];
}

/**
 * How many pools to keep warm at a moment, with nothing queued: `warmMin` in business hours,
 * zero outside them, plus, ahead of each schedule's next run (within `prewarmMs`), the pools its
 * jobs will want, so that its first batch finds a warm browser. Queued work, the maximum and the
 * idle timeout are the planner's (capacity-plan.ts).
 */
export class WarmSchedule {
  constructor(private readonly o: WarmScheduleOptions) {}

  async minimum(now: Date): Promise<WarmMinimum> {
    const hours = inBusinessHours(this.o.businessHours, now);
    const runs = this.o.upcomingRuns ? await this.o.upcomingRuns(now, new Date(now.getTime() + this.o.prewarmMs)) : [];
    const forRuns = runs.reduce((sum, run) => sum + Math.max(1, Math.ceil(run.jobCount / this.o.jobsPerPool)), 0);
    return { pools: Math.max(hours ? this.o.warmMin : 0, forRuns), businessHours: hours, schedules: runs.map((r) => r.scheduleId) };
  }
}
