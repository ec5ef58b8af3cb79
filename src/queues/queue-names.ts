/**
 * Queue names and key prefixes. Every key of one queue shares one hash tag, so the same
 * code runs on Valkey Cluster; a provider's queues share theirs, because a batch flow
 * (parent on the batch queue, child on the run queue) must be written atomically to one slot.
 */
export interface QueueRef {
  name: string;
  prefix: string;
}

export function providerJobsQueue(basePrefix: string, provider: string): QueueRef {
  return { name: `jobs-${provider}`, prefix: `{${basePrefix}-${provider}}` };
}

/** Parent jobs of batch flows: their processor finalises a batch once its work is done. */
export function batchQueue(basePrefix: string, provider: string): QueueRef {
  return { name: `batches-${provider}`, prefix: `{${basePrefix}-${provider}}` };
}

/** Children of batch flows: the sandboxed processor runs one batch in a browser. */
export function batchRunQueue(basePrefix: string, provider: string): QueueRef {
  return { name: `batch-run-${provider}`, prefix: `{${basePrefix}-${provider}}` };
}

export function callbackQueue(basePrefix: string): QueueRef {
  return { name: 'callbacks', prefix: `{${basePrefix}-callbacks}` };
}

/** Contract canary checks a resume asks for; run by a worker (it has the browsers). */
export function canaryQueue(basePrefix: string): QueueRef {
  return { name: 'canary', prefix: `{${basePrefix}-canary}` };
}

export function maintenanceQueue(basePrefix: string): QueueRef {
  return { name: 'maintenance', prefix: `{${basePrefix}-maintenance}` };
}

/** BullMQ job id of a job's n-th trip through its provider queue: enqueue twice = once. */
export function providerQueueJobId(jobId: string, trip: number): string {
  return `job-${jobId}-t${trip}`;
}

export function batchFlowJobIds(batchId: string): { parent: string; run: string } {
  return { parent: `batch-${batchId}`, run: `batch-${batchId}-run` };
}
