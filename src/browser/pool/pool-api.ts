import type { ErrorBody } from '../../errors/failures.js';

/** The JSON a pool speaks (src/browser/pool/pool-server.ts); shared by the server and PoolClient. */

export type BrowserState = 'starting' | 'ready' | 'retiring' | 'dead';

/** One browser server as GET /browsers reports it. */
export interface BrowserInfo {
  id: string;
  state: BrowserState;
  /** Pid of the Chromium browser process (undefined before launch). */
  pid?: number;
  /** Browser contexts open in Chromium right now (polled over CDP). */
  contexts: number;
  /** Leases held on this browser. */
  leases: number;
  /** Leases granted over this browser's life; it retires at retireAfterContexts. */
  contextsCreated: number;
  /** RSS of the browser's process tree in MiB (last sample). */
  memoryMb: number;
  launchedAt?: string;
  /** Why it retires, when retiring. */
  retireReason?: RetireReason;
}

export type RetireReason = 'contexts' | 'memory' | 'orphaned-contexts';

/**
 * 200 answer of POST /leases. `wsEndpoint` is `ws://<host:port the client called>/browsers/<browser
 * id>/<secret>`: the pool's own port, which proxies it to the browser (bound to 127.0.0.1 inside the
 * pool). Connecting needs the pool token as a bearer header too. The secret part is a secret:
 * never log it.
 */
export interface LeaseGrant {
  leaseId: string;
  browserId: string;
  wsEndpoint: string;
  /** ISO time after which the pool reclaims the lease unless it is renewed. */
  expiresAt: string;
}

/** Body of POST /leases. */
export interface LeaseRequest {
  /** Lease time to live; the pool clamps it to its maximum. */
  ttlMs?: number;
  /** Browsers to avoid (e.g. one that just failed); used only when another has capacity. */
  avoidBrowserIds?: string[];
}

/** GET /status: pool-level numbers for metrics and `rpa pool status`. */
export interface PoolStatus {
  playwrightVersion: string;
  /** Configured number of browsers. */
  size: number;
  browsers: Record<BrowserState, number>;
  maxContextsPerBrowser: number;
  /** Leases held (= contexts in use by clients). */
  busyContexts: number;
  /** Browser contexts open in Chromium (polled). */
  openContexts: number;
  /** Free lease slots on ready browsers. */
  freeSlots: number;
  /** Browsers relaunched after a crash or an unresponsive browser was killed. */
  restarts: number;
  /** Browsers retired (contexts, memory, orphaned contexts). */
  retired: number;
  leasesGranted: number;
  leasesExpired: number;
}

/** Error body of every non-2xx answer (src/http/json-errors.ts). */
export interface PoolErrorBody {
  error: ErrorBody;
}
