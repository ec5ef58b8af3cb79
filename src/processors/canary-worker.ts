import { Worker, type ConnectionOptions } from 'bullmq';
import type { Redis } from 'iovalkey';
import type { Logger } from '../logger.js';
import type { CanaryRequest } from '../queues/canary-requests.js';
import { canaryQueue } from '../queues/queue-names.js';
import type { CanaryVerdict } from './contract-canary.js';

/** Runs the canary checks a resume asks for, one at a time, in the worker (where the browsers are). */
export function startCanaryWorker(options: {
  connection: Redis;
  basePrefix: string;
  canary: (provider: string) => Promise<CanaryVerdict>;
  logger: Logger;
}): { close(): Promise<void> } {
  const ref = canaryQueue(options.basePrefix);
  const worker = new Worker<CanaryRequest, CanaryVerdict>(ref.name, (job) => options.canary(job.data.provider), {
    connection: options.connection as unknown as ConnectionOptions,
    prefix: ref.prefix,
    concurrency: 1,
    lockDuration: 120_000,
  });
  worker.on('error', (err) => options.logger.warn({ err }, 'canary worker error'));
  return { close: () => worker.close() };
}
