import { RpaError } from '../../errors/failures.js';

/** A pool a backend started: its id and the base URL of its API (its browsers share the port). */
export interface StartedPool {
  id: string;
  url: string;
}

/**
 * What differs between a pod and a local process: starting, probing and stopping one pool.
 * The fleet manager decides how many; a backend only does as it is told.
 */
export interface PoolBackend {
  /** Stops pools an earlier run left behind; returns their ids. */
  cleanupOrphans(): Promise<string[]>;
  /** Starts one pool and resolves once it serves `/health/ready`. Stops it again on failure. */
  provision(id: string, signal: AbortSignal): Promise<StartedPool>;
  /** False once the pool is gone (pod deleted or failed, process exited). */
  isAlive(id: string): Promise<boolean>;
  /** Stops one pool; a pool already gone is not an error. */
  terminate(id: string): Promise<void>;
  close(): Promise<void>;
}

/** Polls `url/health/ready` until it answers 2xx, the deadline passes, or `signal` aborts. */
export async function waitForPoolReady(url: string, token: string, deadline: number, signal: AbortSignal, intervalMs = 250): Promise<void> {
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (signal.aborted) throw new RpaError('BROWSER_GONE', 'pool start was cancelled');
    try {
      const res = await fetch(`${url}/health/ready`, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.any([signal, AbortSignal.timeout(Math.max(100, Math.min(5000, deadline - Date.now())))]),
      });
      await res.body?.cancel();
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).name === 'TimeoutError' ? 'timed out' : 'connection failed';
    }
    await new Promise((r) => setTimeout(r, intervalMs).unref());
  }
  throw new RpaError('BROWSER_POOL_EXHAUSTED', `pool did not become ready in time (last: ${last})`);
}
