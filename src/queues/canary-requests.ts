import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { RpaError } from '../errors/failures.js';
import type { CanaryVerdict } from '../processors/contract-canary.js';
import type { QueueRegistry } from './queue-registry.js';

export interface CanaryRequest {
  provider: string;
}

/**
 * Asks a worker to run the contract canary of `provider` and waits for its verdict. Throws
 * SERVICE_UNAVAILABLE when no worker answers within `timeoutMs` (none running, or all busy),
 * after taking the request back if nobody had started it.
 */
export async function requestCanary(queues: QueueRegistry, provider: string, timeoutMs = 120_000): Promise<CanaryVerdict> {
  const queue = queues.canary();
  const job = await queue.add('canary', { provider } satisfies CanaryRequest, {
    jobId: `canary-${provider}-${randomUUID()}`,
    removeOnComplete: { age: 3_600 },
    removeOnFail: { age: 86_400 },
  });
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    await sleep(500);
    const state = await queue.getJobState(job.id!);
    if (state === 'completed') return (await queue.getJob(job.id!))!.returnvalue as CanaryVerdict;
    if (state === 'failed') {
      const failed = await queue.getJob(job.id!);
      throw new RpaError('SERVICE_UNAVAILABLE', `the ${provider} canary could not run: ${failed?.failedReason ?? 'unknown reason'}`);
    }
  }
  if ((await queue.getJobState(job.id!)) === 'waiting') await queue.remove(job.id!).catch(() => undefined);
  throw new RpaError('SERVICE_UNAVAILABLE', `no worker ran the ${provider} canary within ${Math.round(timeoutMs / 1000)} s; is a worker (RPA_ROLES worker) running?`);
}
