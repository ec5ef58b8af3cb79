import { Worker, UnrecoverableError, type ConnectionOptions, type Job } from 'bullmq';
import type { Redis } from 'iovalkey';
import { findDeliveryWithJob, markDelivered, markRefused, recordAttemptFailure } from '../db/callback-store.js';
import type { Db } from '../db/database.js';
import { listEvidence } from '../db/evidence-metadata-store.js';
import { evidenceLinks } from '../evidence/evidence-links.js';
import { coerceError } from '../errors/coerce-error.js';
import type { Logger } from '../logger.js';
import { callbackQueue } from '../queues/queue-names.js';
import type { CallbackJobData } from './callback-enqueuer.js';
import { buildCallbackPayload } from './callback-payload.js';
import { CALLBACK_RETRY, callbackBackoffDelay } from './callback-retry-policy.js';
import { sendCallback } from './callback-sender.js';
import { CALLBACK_SIGNATURE_HEADER, signCallback } from './callback-signature.js';
import { resolveCallbackTarget, type HostLookup } from './callback-url-guard.js';

export interface CallbackWorkerOptions {
  db: Db;
  /** A worker connection (`createValkey(url, 'worker')`); the caller closes it. */
  connection: Redis;
  basePrefix: string;
  /** CALLBACK_SECRET: signs every body. */
  /** The HMAC key, or how to read it now (a rotated CALLBACK_SECRET is used from the next callback on). */
  secret: string | (() => string);
  /** CALLBACK_ALLOW_HOSTS: hosts the SSRF rule does not apply to (`host:port` entries add a port on that host). */
  allowHosts: readonly string[];
  /** CALLBACK_ALLOW_PORTS: the ports a callback may go to (80 and 443 unless given). */
  allowPorts?: readonly number[];
  logger: Logger;
  concurrency?: number;
  /** First retry wait; later ones double (CALLBACK_RETRY.backoff.delay unless given). */
  backoffBaseMs?: number;
  /** Per request: connect, send, and the answer's headers. */
  requestTimeoutMs?: number;
  /** Host name resolution (the system resolver unless given). */
  lookup?: HostLookup;
  /** PUBLIC_BASE_URL, or how to read it (the API's own address once it listens): evidence URLs start with it. */
  publicBaseUrl: string | (() => string);
}

export interface CallbackWorkerHandle {
  worker: Worker<CallbackJobData>;
  close(): Promise<void>;
}

/** How one attempt ended, for the delivery row. */
interface AttemptOutcome {
  status: number | null;
  error: string;
  /** No retry can help: a 3xx or 4xx answer. */
  final: boolean;
}

/**
 * Starts an in-process BullMQ worker on the callbacks queue (I/O only, so not sandboxed). Per
 * job it reads the job's row, refuses forbidden targets (state `refused`, no retry), POSTs the
 * signed payload to the checked address, and records every attempt in callback_deliveries:
 * 2xx → `delivered`; 3xx/4xx → `failed` at once (UnrecoverableError); 5xx and network errors →
 * retried by BullMQ with CALLBACK_RETRY's backoff until the attempts run out, then `failed`.
 */
export function startCallbackWorker(options: CallbackWorkerOptions): CallbackWorkerHandle {
  const { db, secret, logger } = options;
  const policy = { allowHosts: options.allowHosts, allowPorts: options.allowPorts };
  const backoffBaseMs = options.backoffBaseMs ?? CALLBACK_RETRY.backoff.delay;
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  const ref = callbackQueue(options.basePrefix);

  async function recordFailure(jobId: string, attemptKey: string, attempt: number, maxAttempts: number, outcome: AttemptOutcome): Promise<{ last: boolean; delayMs: number }> {
    const last = outcome.final || attempt >= maxAttempts;
    const delayMs = last ? 0 : callbackBackoffDelay(attempt, attemptKey, backoffBaseMs);
    await recordAttemptFailure(db, jobId, { last, status: outcome.status, error: outcome.error, nextAttemptAt: last ? null : new Date(Date.now() + delayMs) });
    return { last, delayMs };
  }

  async function deliver(job: Job<CallbackJobData>): Promise<string> {
    const jobId = job.data.jobId;
    const attempt = job.attemptsMade + 1;
    const maxAttempts = job.opts.attempts ?? 1;
    const log = logger.child({ component: 'callbacks', job_id: jobId, attempt, max_attempts: maxAttempts });
    const row = await findDeliveryWithJob(db, jobId);
    if (!row) {
      log.warn('callback job without a delivery row; nothing to send');
      return 'missing';
    }
    if (row.state !== 'pending') return row.state;

    let target;
    try {
      target = await resolveCallbackTarget(row.url, policy, { lookup: options.lookup });
    } catch (thrown) {
      const err = coerceError(thrown);
      if (err.code === 'CALLBACK_URL_FORBIDDEN') {
        await markRefused(db, jobId, err.message);
        // The address a name resolved to is for this log only, never for the row the API shows.
        log.warn({ reason: err.message, address: err.details?.address }, 'callback refused: forbidden target');
        throw new UnrecoverableError(err.message);
      }
      const { last } = await recordFailure(jobId, String(job.id), attempt, maxAttempts, { status: null, error: err.message, final: false });
      log.warn({ reason: err.message, last }, `callback attempt ${attempt} of ${maxAttempts} failed`);
      throw new Error(err.message);
    }

    const base = typeof options.publicBaseUrl === 'function' ? options.publicBaseUrl() : options.publicBaseUrl;
    const body = buildCallbackPayload(row, evidenceLinks(jobId, await listEvidence(db, jobId), base));
    const headers = {
      'Content-Type': 'application/json',
      'User-Agent': 'rpa-orchestrator-callbacks',
      [CALLBACK_SIGNATURE_HEADER]: signCallback(body, typeof secret === 'function' ? secret() : secret),
    };
    const started = Date.now();
    let outcome: AttemptOutcome;
    try {
      const { status } = await sendCallback(target, body, headers, requestTimeoutMs);
      if (status >= 200 && status < 300) {
        await markDelivered(db, jobId, status);
        log.info({ host: target.url.host, status, duration_ms: Date.now() - started }, `callback delivered on attempt ${attempt} of ${maxAttempts}`);
        return 'delivered';
      }
      if (status >= 300 && status < 400) outcome = { status, error: `receiver answered ${status}; redirects are not followed`, final: true };
      // 408 and 429 say "not now", not "never": they are retried like a 5xx.
      else if (status >= 400 && status < 500 && status !== 408 && status !== 429) outcome = { status, error: `receiver answered ${status}`, final: true };
      else outcome = { status, error: `receiver answered ${status}`, final: false };
    } catch (thrown) {
      outcome = { status: null, error: coerceError(thrown).message, final: false };
    }
    const { last, delayMs } = await recordFailure(jobId, String(job.id), attempt, maxAttempts, outcome);
    log.warn(
      { host: target.url.host, status: outcome.status, reason: outcome.error, duration_ms: Date.now() - started, final: last, retry_in_ms: last ? undefined : delayMs },
      `callback attempt ${attempt} of ${maxAttempts} failed`,
    );
    throw outcome.final ? new UnrecoverableError(outcome.error) : new Error(outcome.error);
  }

  const worker = new Worker<CallbackJobData>(ref.name, deliver, {
    connection: options.connection as unknown as ConnectionOptions,
    prefix: ref.prefix,
    concurrency: options.concurrency ?? 10,
    settings: {
      // The same function the worker used for next_attempt_at, so the row and the queue agree.
      backoffStrategy: (attemptsMade: number, _type?: string, _err?: Error, job?: { id?: string }) =>
        callbackBackoffDelay(attemptsMade, String(job?.id), backoffBaseMs),
    },
  });
  worker.on('error', (err) => logger.error({ err, component: 'callbacks' }, 'callback worker error'));

  return {
    worker,
    close: () => worker.close(),
  };
}
