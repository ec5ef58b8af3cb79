import type { Worker } from 'bullmq';
import type { Logger } from '../logger.js';

/** The part of BullMQ's ChildPool (bullmq/dist/cjs/classes/child-pool.js) used here. */
interface ChildPoolLike {
  retain(processFile: string): Promise<{ pid: number }>;
  release(child: { pid: number }): void;
}

/**
 * Starts `count` sandboxed children of `worker` before it takes any job, so its first batches do
 * not wait for a fork (node start, the processor's modules, its runtime: ~2.7 s on a busy 2-core
 * machine, docs/bench-throughput.md).
 *
 * BullMQ keeps a sandboxed worker's children in a pool but forks one only when a job finds no
 * free child, and has no option to start them ahead. The pool does what is needed, though:
 * `retain(file)` forks a child and waits for it to load the processor file, `release(child)` puts
 * it on the free list, from where the next job's `retain(file)` takes it (sandbox.js). So the
 * children are retained all at once (one at a time would hand back the same child) and then
 * released. The pool is a private field of Worker: when a BullMQ upgrade moves it, this logs
 * that and the worker runs as before, forking at its first batches.
 *
 * Resolves with the pids of the children started; never rejects (a processor file that cannot
 * start fails its batches as before, and ChildHealthMonitor pauses the worker).
 */
export async function prestartChildren(worker: Worker, processorFile: string, count: number, logger: Logger): Promise<number[]> {
  if (count <= 0) return [];
  const pool = (worker as unknown as { childPool?: Partial<ChildPoolLike> }).childPool;
  if (!pool || typeof pool.retain !== 'function' || typeof pool.release !== 'function') {
    logger.warn("BullMQ's child pool is not where this version expects it; sandboxed children start with the first batches instead");
    return [];
  }
  const retain = pool.retain.bind(pool);
  const release = pool.release.bind(pool);
  const started = await Promise.allSettled(Array.from({ length: count }, () => retain(processorFile)));
  const pids: number[] = [];
  for (const result of started) {
    if (result.status === 'fulfilled') {
      release(result.value);
      pids.push(result.value.pid);
    } else {
      logger.warn({ err: result.reason }, 'a warm sandboxed child did not start; batches fork their own');
    }
  }
  return pids;
}
