import type { Db } from '../db/database.js';
import { claimIdempotencyKey, completeIdempotencyKey } from '../db/idempotency-store.js';
import { appendJobEvents } from '../db/event-store.js';
import { findJobsByExternalIds, insertJobs, type NewJob } from '../db/job-store.js';
import { jobPriority } from '../db/schema.js';
import { RpaError } from '../errors/failures.js';
import type { Logger } from '../logger.js';
import type { JobEnqueuer } from '../queues/job-enqueuer.js';
import { hashRequest, type JobRequest } from './job-request.js';

export interface SubmitOptions {
  /** Name of the API key that submits (recorded on the job and in its first event). */
  actor: string;
  idempotencyKey?: string;
  /** Error field prefix for items (`jobs` for bulk requests, absent for one job). */
  itemField?: string;
}

export interface SubmitOutcome {
  jobIds: string[];
  /** True when every job already existed (an idempotent replay): nothing was created. */
  replayed: boolean;
}

/**
 * Writes jobs and their first events in one transaction (Postgres is the truth from here on),
 * then hands them to their provider queues. A Valkey outage does not fail the submission:
 * the jobs wait in Postgres and the sweeper enqueues them later.
 */
export class JobSubmission {
  constructor(
    private readonly db: Db,
    private readonly enqueuer: JobEnqueuer,
    private readonly maxAttempts: number,
    private readonly logger: Logger,
  ) {}

  async submit(requests: JobRequest[], options: SubmitOptions): Promise<SubmitOutcome> {
    // Two requests with one new external_id at once: the later insert waits for the earlier
    // transaction and then violates the unique index. Tried again, it finds the committed job and
    // answers as a replay (or a conflict) would: a 4xx, never a 500.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.submitOnce(requests, options);
      } catch (error) {
        if (!isExternalIdRace(error)) throw error;
        if (attempt >= 3) {
          throw new RpaError('CONFLICT', `${options.itemField ? `${options.itemField}[].` : ''}external_id: another request with this external_id is being stored; send it again`, {
            field: options.itemField ? options.itemField : 'external_id',
            cause: error,
          });
        }
      }
    }
  }

  private async submitOnce(requests: JobRequest[], options: SubmitOptions): Promise<SubmitOutcome> {
    const outcome = await this.db.transaction().execute(async (trx) => {
      const idempotencyKey = options.idempotencyKey ? `${options.actor}:${options.idempotencyKey}` : undefined;
      if (idempotencyKey) {
        const claim = await claimIdempotencyKey(trx, idempotencyKey, hashRequest(requests.map((r) => r.hash)));
        if (claim.kind === 'replay') return { jobIds: claim.jobIds, replayed: true, created: [] as string[], labels: [] };
        if (claim.kind === 'conflict') {
          throw new RpaError('CONFLICT', 'Idempotency-Key was already used with a different request body', { field: 'Idempotency-Key' });
        }
      }

      const ids: (string | undefined)[] = new Array(requests.length).fill(undefined);
      const provider = requests[0]!.provider;
      const external = requests.flatMap((r) => (r.externalId ? [r.externalId] : []));
      const existing = new Map((await findJobsByExternalIds(trx, provider, external)).map((row) => [row.external_id!, row]));
      requests.forEach((request, index) => {
        const found = request.externalId ? existing.get(request.externalId) : undefined;
        if (!found) return;
        const field = options.itemField ? `${options.itemField}[${index}].external_id` : 'external_id';
        // Another key's job is not this key's to see: no id, no replay (external_id is unique per provider).
        if (found.submitted_by !== options.actor) throw new RpaError('CONFLICT', `${field}: this external_id is already used by a job another API key submitted`, { field });
        if (found.request_hash !== request.hash) {
          throw new RpaError('CONFLICT', `${field}: job ${found.id} was submitted with this external_id and a different body`, { field });
        }
        ids[index] = found.id;
      });

      const fresh = requests.map((r, i) => ({ r, i })).filter(({ i }) => ids[i] === undefined);
      const newJobs: NewJob[] = fresh.map(({ r }) => ({
        provider: r.provider,
        action: r.action,
        parameters: r.parameters,
        callbackUrl: r.callbackUrl,
        externalId: r.externalId,
        requestHash: r.hash,
        submittedBy: options.actor,
        maxAttempts: this.maxAttempts,
      }));
      const created = await insertJobs(trx, newJobs);
      fresh.forEach(({ i }, k) => (ids[i] = created[k]));
      await appendJobEvents(trx, { jobIds: created, from: null, to: 'pending', cause: 'submitted', actor: options.actor });
      const jobIds = ids as string[];
      if (idempotencyKey) await completeIdempotencyKey(trx, idempotencyKey, jobIds);
      const labels = fresh.map(({ r }) => ({ action: r.action, circuit: r.parameters.circuit_number, priority: jobPriority(r.parameters) }));
      return { jobIds, replayed: created.length === 0, created, labels };
    });

    if (outcome.created.length > 0) {
      const provider = requests[0]!.provider;
      await this.enqueuer.tryEnqueue(outcome.created.map((id, k) => ({ id, provider, trip: 0, label: outcome.labels[k] })));
      this.logger.info({ provider, count: outcome.created.length, actor: options.actor }, 'jobs accepted');
    }
    return { jobIds: outcome.jobIds, replayed: outcome.replayed };
  }
}

/** A unique violation of jobs' (provider, external_id) index: a concurrent request stored the same external_id first. */
function isExternalIdRace(error: unknown): boolean {
  const e = error as { code?: unknown; constraint?: unknown } | undefined;
  return e?.code === '23505' && e.constraint === 'jobs_external_id_key';
}
