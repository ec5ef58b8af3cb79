import type { Redis } from 'iovalkey';
import { CallbackEnqueuer, callbackQueueJobId } from '../../../src/callbacks/callback-enqueuer.js';
import type { HostLookup } from '../../../src/callbacks/callback-url-guard.js';
import { startCallbackWorker, type CallbackWorkerHandle } from '../../../src/callbacks/callback-worker.js';
import type { Db } from '../../../src/db/database.js';
import type { JobStatus } from '../../../src/db/schema.js';
import { appendJobEvents } from '../../../src/db/event-store.js';
import { recordEvidence } from '../../../src/db/evidence-metadata-store.js';
import type { EvidenceItem } from '../../../src/evidence/evidence-item.js';
import { QueueRegistry } from '../../../src/queues/queue-registry.js';
import { createValkey } from '../../../src/queues/valkey.js';
import { sharedValkey, testLogger, uniquePrefix } from '../../support/shared-services.js';
import { waitFor } from './callback-receiver.js';

export const SECRET = 'test-callback-secret';
/** The PUBLIC_BASE_URL the fixture's worker puts before evidence URLs. */
export const PUBLIC_BASE = 'https://rpa.example.test:8443';

export interface Fixture {
  queues: QueueRegistry;
  enqueuer: CallbackEnqueuer;
  handle: CallbackWorkerHandle;
  close(): Promise<void>;
}

/** A callback worker and enqueuer on a queue prefix of their own, over the file's database. */
export async function startFixture(db: Db, options: { allowHosts?: string[]; backoffBaseMs?: number; lookup?: HostLookup; requestTimeoutMs?: number } = {}): Promise<Fixture> {
  const { url } = await sharedValkey();
  const producer: Redis = createValkey(url, 'producer');
  const workerConnection: Redis = createValkey(url, 'worker');
  await waitFor('valkey ready', async () => (producer.status === 'ready' && workerConnection.status === 'ready' ? true : undefined));
  const prefix = uniquePrefix('callbacks');
  const queues = new QueueRegistry(producer, prefix);
  const enqueuer = new CallbackEnqueuer(db, queues, testLogger);
  const handle = startCallbackWorker({
    db,
    connection: workerConnection,
    basePrefix: prefix,
    secret: SECRET,
    allowHosts: options.allowHosts ?? ['127.0.0.1:*'],
    logger: testLogger,
    backoffBaseMs: options.backoffBaseMs ?? 20,
    lookup: options.lookup,
    requestTimeoutMs: options.requestTimeoutMs,
    publicBaseUrl: PUBLIC_BASE,
  });
  await handle.worker.waitUntilReady();
  return {
    queues,
    enqueuer,
    handle,
    async close() {
      await handle.close();
      await queues.close();
      await Promise.allSettled([producer.quit(), workerConnection.quit()]);
    },
  };
}

let completedAtCounter = 0;

/** A job row that has ended (or not), with a callback_url, as the batch code leaves it. */
export async function endedJob(
  db: Db,
  callbackUrl: string | null,
  overrides: { status?: JobStatus; result?: Record<string, unknown> | null; error?: { code: string; message: string } | null; batchId?: string | null; evidence?: EvidenceItem[] } = {},
): Promise<{ id: string; completedAt: Date }> {
  const completedAt = new Date(Date.UTC(2026, 10, 23, 9, 0, 0, 123 + completedAtCounter++));
  const status = overrides.status ?? 'completed';
  const row = await db
    .insertInto('jobs')
    .values({
      provider: 'octotel',
      action: 'validation',
      circuit_number: 'OCT000001',
      parameters: JSON.stringify({ circuit_number: 'OCT000001' }),
      status,
      result: overrides.result === undefined ? JSON.stringify({ valid: true, circuit_status: 'active' }) : overrides.result === null ? null : JSON.stringify(overrides.result),
      error: overrides.error ? JSON.stringify(overrides.error) : null,
      batch_id: overrides.batchId ?? null,
      max_attempts: 3,
      callback_url: callbackUrl,
      request_hash: 'h',
      completed_at: status === 'pending' || status === 'running' ? null : completedAt,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  // As a transition leaves it: the evidence, then the event, both on the job's audit chain.
  await recordEvidence(db, row.id, overrides.evidence ?? []);
  await appendJobEvents(db, { jobIds: [row.id], from: 'running', to: status, cause: 'test', actor: 'test' });
  return { id: row.id, completedAt };
}

export function delivery(db: Db, jobId: string) {
  return db.selectFrom('callback_deliveries').selectAll().where('job_id', '=', jobId).executeTakeFirst();
}

/** Waits for the delivery row to leave 'pending'. */
export function settled(db: Db, jobId: string) {
  return waitFor(`delivery of job ${jobId} to settle`, async () => {
    const row = await delivery(db, jobId);
    return row && row.state !== 'pending' ? row : undefined;
  });
}

/** Waits for the BullMQ job to reach a final state, and returns it. */
export async function finishedQueueJob(fixture: Fixture, jobId: string) {
  return waitFor(`queue job of ${jobId} to finish`, async () => {
    const job = await fixture.queues.callbacks().getJob(callbackQueueJobId(jobId));
    const state = await job?.getState();
    return job && (state === 'completed' || state === 'failed') ? { job, state } : undefined;
  });
}

