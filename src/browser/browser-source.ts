import type { BrowserLease } from './client/browser-lease.js';

/**
 * Where a batch gets its browser context; batches see only this. The one implementation in use
 * is `PoolLeaseSource` (client/pool-lease-source.ts): the pools in the directory, or the one
 * fixed pool of BROWSER_POOL_URL, through each pool's own lease protocol. A `PoolClient` (one
 * pool) fits too.
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
