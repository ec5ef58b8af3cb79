import { batchesChangedSince, unfinishedBatchStatuses } from '../db/batch-store.js';
import type { Db } from '../db/database.js';
import { eventsAfter, latestEventId } from '../db/event-store.js';
import type { Logger } from '../logger.js';

/** What `/events` sends: one envelope per job or batch status change. */
export interface StatusEvent {
  type: 'job.status' | 'batch.status';
  /** ISO time of the change. */
  ts: string;
  data: Record<string, unknown>;
  /** job_events.id for job changes (the SSE id). */
  id?: string;
  /** Job changes: the name of the key that submitted the job (jobs.submitted_by); never sent. */
  owner?: string | null;
}

export type StatusEventListener = (event: StatusEvent) => void;

/**
 * Job and batch status changes read from Postgres, so every change made by any process shows
 * up: new rows of job_events (the job event log) and batches whose status differs from the last
 * one seen. One poller per process, running only while someone listens.
 */
export class StatusEventFeed {
  private readonly listeners = new Set<StatusEventListener>();
  private timer: NodeJS.Timeout | undefined;
  private lastJobEventId: string | undefined;
  private batchesSince: Date | undefined;
  private readonly batchStatus = new Map<string, string>();
  private polling: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    private readonly pollMs = 1_000,
  ) {}

  /** Starts delivering changes made from now on; returns the unsubscribe function. */
  async subscribe(listener: StatusEventListener): Promise<() => void> {
    if (this.closed) throw new Error('status event feed closed');
    if (this.listeners.size === 0) await this.start();
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    this.stop();
    await this.polling;
  }

  private async start(): Promise<void> {
    const start = await latestEventId(this.db);
    this.lastJobEventId = start.last;
    this.batchesSince = start.now;
    this.batchStatus.clear();
    const active = await unfinishedBatchStatuses(this.db);
    for (const b of active) this.batchStatus.set(b.id, b.status);
    const tick = () => {
      this.polling = this.poll()
        .catch((err: unknown) => this.logger.warn({ err }, 'status event poll failed'))
        .finally(() => {
          if (this.listeners.size > 0 && !this.closed) this.timer = setTimeout(tick, this.pollMs).unref();
        });
    };
    this.timer = setTimeout(tick, this.pollMs).unref();
  }

  private stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async poll(): Promise<void> {
    const events: StatusEvent[] = [];
    const jobRows = await eventsAfter(this.db, this.lastJobEventId!, 5_000);
    for (const r of jobRows) {
      this.lastJobEventId = r.id;
      events.push({
        type: 'job.status',
        id: r.id,
        owner: r.submitted_by,
        ts: new Date(r.at).toISOString(),
        data: { job_id: Number(r.job_id), provider: r.provider, action: r.action, from: r.from_status, to: r.to_status, batch_id: r.batch_id === null ? null : Number(r.batch_id), cause: r.cause, actor: r.actor },
      });
    }
    // Batches touched since the last poll (a second of overlap: updated_at is the writer's clock).
    const since = new Date(this.batchesSince!.getTime() - 1_000);
    const { rows: batchRows, now } = await batchesChangedSince(this.db, since);
    this.batchesSince = now;
    for (const b of batchRows) {
      if (this.batchStatus.get(b.id) === b.status) continue;
      const from = this.batchStatus.get(b.id) ?? null;
      if (from === null && (b.status === 'completed' || b.status === 'failed') && b.finished_at && b.finished_at < since) continue;
      this.batchStatus.set(b.id, b.status);
      events.push({
        type: 'batch.status',
        ts: new Date(b.updated_at).toISOString(),
        data: { batch_id: Number(b.id), provider: b.provider, from, to: b.status, size: b.size, completed: b.completed_count, failed: b.failed_count, returned: b.returned_count, error: b.error },
      });
    }
    // Ended batches are not touched again; keep the map small.
    for (const [id, status] of this.batchStatus) if ((status === 'completed' || status === 'failed') && !batchRows.some((b) => b.id === id)) this.batchStatus.delete(id);
    for (const event of events) {
      for (const listener of this.listeners) {
        try {
          listener(event);
        } catch (err) {
          this.logger.warn({ err }, 'status event listener threw');
        }
      }
    }
  }
}
