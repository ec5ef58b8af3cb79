import type { Job, Worker } from 'bullmq';
import type { Logger } from '../logger.js';

/** Errors BullMQ reports when a sandboxed child could not start or died before doing any work. */
const CHILD_FAILURE = /Unexpected exit code|exited|Cannot find module|SyntaxError|ERR_MODULE_NOT_FOUND|is not a function|failed to start|processor/i;

export interface ChildHealth {
  healthy: boolean;
  consecutiveStartFailures: number;
  lastError?: string;
  pausedUntil?: string;
}

/**
 * Guards against a known BullMQ pitfall: when the sandboxed processor file cannot start (a
 * broken build, a missing module, a crash on import), every job handed to it fails at once,
 * and a busy queue burns through all its jobs' attempts in seconds. After `threshold` jobs in
 * a row fail that way without reporting any progress, the worker is paused, the logs say so
 * loudly, health shows it, and it tries again after `cooldownMs`.
 */
export class ChildHealthMonitor {
  private consecutive = 0;
  private lastError?: string;
  private pausedUntil?: number;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly worker: Worker,
    private readonly name: string,
    private readonly logger: Logger,
    private readonly threshold = 3,
    private readonly cooldownMs = 60_000,
  ) {
    worker.on('failed', (job, error) => this.onFailed(job, error));
    worker.on('completed', () => this.reset());
    worker.on('progress', () => this.reset());
  }

  private reset(): void {
    this.consecutive = 0;
  }

  private onFailed(job: Job | undefined, error: Error): void {
    const progressed = job && typeof job.progress === 'object' && job.progress !== null && Number((job.progress as { done?: number }).done ?? 0) > 0;
    if (progressed || !CHILD_FAILURE.test(error.message)) {
      this.reset();
      return;
    }
    this.consecutive += 1;
    this.lastError = error.message.slice(0, 300);
    if (this.consecutive >= this.threshold && this.pausedUntil === undefined) {
      this.pausedUntil = Date.now() + this.cooldownMs;
      this.logger.fatal(
        { worker: this.name, failures: this.consecutive, error: this.lastError },
        `SANDBOXED PROCESSOR FAILS TO START: ${this.consecutive} batches in a row died before any work (${this.lastError}); worker ${this.name} paused for ${Math.round(this.cooldownMs / 1000)} s so it does not burn every later batch`,
      );
      void this.worker.pause(true).catch(() => undefined);
      this.timer = setTimeout(() => this.tryAgain(), this.cooldownMs);
      this.timer.unref();
    }
  }

  private tryAgain(): void {
    this.pausedUntil = undefined;
    this.consecutive = 0;
    this.logger.warn({ worker: this.name }, 'resuming the sandboxed processor after its cool-down');
    this.worker.resume();
  }

  health(): ChildHealth {
    return {
      healthy: this.pausedUntil === undefined,
      consecutiveStartFailures: this.consecutive,
      lastError: this.lastError,
      pausedUntil: this.pausedUntil ? new Date(this.pausedUntil).toISOString() : undefined,
    };
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}
