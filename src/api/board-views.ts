import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import type { Job, Queue } from 'bullmq';
import type { Db } from '../db/database.js';
import { boardBatches, boardJobs, type BoardBatchRow, type BoardJobRow } from '../db/board-store.js';
import { jobPriority } from '../db/schema.js';

/** Where Bull Board links a job's evidence (served under the board's own login). */
export const boardEvidencePath = (base: string, jobId: string, name: string) => `${base}/evidence/${jobId}/${encodeURIComponent(name)}`;

/** What a queue of ours holds, from its name: a provider's jobs, its batch parents or its batch runs. */
function queueKind(name: string): { kind: 'jobs' | 'batches' | 'runs' | 'other'; provider?: string } {
  const m = /^(jobs|batches|batch-run)-(.+)$/.exec(name);
  if (!m) return { kind: 'other' };
  return { kind: m[1] === 'jobs' ? 'jobs' : m[1] === 'batches' ? 'batches' : 'runs', provider: m[2] };
}

const DESCRIPTIONS = {
  jobs: (p: string) => `${p}: circuits waiting to be batched (highest priority first)`,
  batches: (p: string) => `${p}: batches, finalised once their run ends`,
  runs: (p: string) => `${p}: batch runs, one login each, in a sandboxed processor`,
};

/** Entries kept for the formatters; Bull Board asks for a page at a time, so a few thousand are plenty. */
const KEEP = 5_000;

/**
 * What operators see in Bull Board: circuits, not queue plumbing. Queue entries carry pointers
 * (a job or batch id); before Bull Board renders a page, the adapter reads those jobs and batches
 * from Postgres (the truth), and Bull Board's formatters show them: a job's circuit, action,
 * status, result or error and evidence links; a batch's provider, progress, logins and circuits.
 * Extends Bull Board's BullMQ adapter (its public hooks), not a fork of it.
 */
export class BoardViews {
  private readonly jobs = new Map<string, BoardJobRow & { evidence: { name: string }[] }>();
  private readonly batches = new Map<string, BoardBatchRow>();

  constructor(
    private readonly db: Db,
    /** The board's base path, for evidence links. */
    private readonly basePath: string,
  ) {}

  adapter(queue: Queue, options: { readOnlyMode: boolean; allowRetries: boolean }): BullMQAdapter {
    const { kind, provider } = queueKind(queue.name);
    const description = kind === 'other' ? '' : DESCRIPTIONS[kind](provider!);
    const adapter = new ViewedAdapter(queue, { ...options, description }, (jobs) => this.load(jobs));
    if (kind === 'jobs') {
      adapter.setFormatter('data', (data: Record<string, unknown>) => this.jobData(data));
      adapter.setFormatter('name', (job: { name?: string; data?: Record<string, unknown> }) => this.jobName(job));
    } else if (kind === 'batches' || kind === 'runs') {
      adapter.setFormatter('data', (data: Record<string, unknown>) => this.batchData(data));
      adapter.setFormatter('name', (job: { name?: string; data?: Record<string, unknown> }) => this.batchName(job));
      adapter.setFormatter('progress', (progress: unknown) => percent(progress));
    }
    return adapter;
  }

  /** Reads the jobs and batches these queue entries point at. */
  private async load(entries: Job[]): Promise<void> {
    const jobIds = new Set<string>();
    const batchIds = new Set<string>();
    for (const entry of entries) {
      const data = (entry?.data ?? {}) as Record<string, unknown>;
      if (typeof data.jobId === 'string' || typeof data.jobId === 'number') jobIds.add(String(data.jobId));
      if (typeof data.batchId === 'string' || typeof data.batchId === 'number') batchIds.add(String(data.batchId));
    }
    const [jobs, batches] = await Promise.all([boardJobs(this.db, [...jobIds]), boardBatches(this.db, [...batchIds])]);
    for (const job of jobs) remember(this.jobs, job.id, job);
    for (const batch of batches) remember(this.batches, batch.id, batch);
  }

  private jobName(job: { name?: string; data?: Record<string, unknown> }): string {
    const row = this.jobs.get(String(job.data?.jobId));
    if (row) return `${row.action} ${row.circuit_number}`;
    return job.name ?? '';
  }

  private jobData(data: Record<string, unknown>): Record<string, unknown> {
    const row = this.jobs.get(String(data.jobId));
    if (!row) return data;
    const priority = jobPriority(row.parameters);
    return {
      job_id: Number(row.id),
      circuit: row.circuit_number,
      action: row.action,
      status: row.status,
      ...(priority !== 'normal' ? { priority } : {}),
      ...(row.parameters.deadline ? { deadline: row.parameters.deadline } : {}),
      ...(row.parameters.dry_run ? { dry_run: true } : {}),
      attempts: `${row.attempts} of ${row.max_attempts}`,
      batch: row.batch_id === null ? null : Number(row.batch_id),
      ...(row.result ? { result: row.result } : {}),
      ...(row.error ? { error: `${row.error.code}: ${row.error.message}` } : {}),
      evidence: row.evidence.map((e) => boardEvidencePath(this.basePath, row.id, e.name)),
    };
  }

  private batchName(job: { name?: string; data?: Record<string, unknown> }): string {
    const row = this.batches.get(String(job.data?.batchId));
    if (row) return `batch ${row.id} · ${row.provider} · ${row.size} job${row.size === 1 ? '' : 's'}`;
    return job.name ?? '';
  }

  private batchData(data: Record<string, unknown>): Record<string, unknown> {
    const row = this.batches.get(String(data.batchId));
    if (!row) return data;
    const done = row.completed_count + row.failed_count + row.returned_count;
    return {
      batch_id: Number(row.id),
      provider: row.provider,
      status: row.status,
      progress: `${done}/${row.size}`,
      completed: row.completed_count,
      failed: row.failed_count,
      handed_back: row.returned_count,
      logins: row.login_count,
      ...(row.error ? { error: `${row.error.code}: ${row.error.message}` } : {}),
      circuits: row.circuits,
      ...(data.postponed ? { postponed: data.postponed } : {}),
    };
  }
}

/** Bull Board's BullMQ adapter, reading what a page shows from Postgres before the formatters run. */
class ViewedAdapter extends BullMQAdapter {
  constructor(
    queue: Queue,
    options: { readOnlyMode: boolean; allowRetries: boolean; description: string },
    private readonly loadViews: (jobs: Job[]) => Promise<void>,
  ) {
    super(queue, options);
  }

  override async getJobs(...args: Parameters<BullMQAdapter['getJobs']>): Promise<Job[]> {
    const jobs = await super.getJobs(...args);
    await this.loadViews(jobs.filter(Boolean));
    return jobs;
  }

  override async getJob(id: string): Promise<Job | undefined> {
    const job = await super.getJob(id);
    if (job) await this.loadViews([job]);
    return job;
  }
}

/** A batch run's progress ({done, total}) as the percentage Bull Board draws as a bar. */
function percent(progress: unknown): unknown {
  if (typeof progress !== 'object' || progress === null) return progress;
  const { done, total } = progress as { done?: number; total?: number };
  return typeof done === 'number' && typeof total === 'number' && total > 0 ? Math.round((100 * done) / total) : progress;
}

function remember<T>(map: Map<string, T>, key: string, value: T): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > KEEP) map.delete(map.keys().next().value!);
}
