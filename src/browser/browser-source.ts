import type { BrowserLease } from './browser-lease.js';

/**
 * Where a batch gets its browser context. `BrowserPoolClient` leases from one pool it was given
 * (BROWSER_POOL_URL); `BrokeredBrowserSource` first asks the worker's browser broker which pool
 * to use. Batches see only this.
 */
export interface BrowserSource {
  /**
   * A fresh context under a lease; release it on every path. `avoidBrowserIds` are browsers
   * (`lease.browserId` of earlier leases) to stay off if another has room.
   */
  lease(options?: { avoidBrowserIds?: string[] }): Promise<BrowserLease>;
  /** Releases every open lease and lets go of every connection. */
  close(): Promise<void>;
}
