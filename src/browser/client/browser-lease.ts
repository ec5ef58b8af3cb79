import type { Browser, BrowserContext } from 'playwright-core';
import { isRpaError } from '../../errors/failures.js';
import { browserGoneError, isBrowserGone } from './browser-gone.js';
import { withTimeout } from '../../infra/with-timeout.js';

/** A hung browser must not hang release(); the pool retires a browser whose contexts outlive their leases. */
const CLOSE_TIMEOUT_MS = 10_000;

/**
 * One browser context on a pooled browser, held under a lease. Release it on every path
 * (`PoolClient.withLease` does); `release()` is safe to call twice.
 */
export interface BrowserLease {
  readonly leaseId: string;
  readonly browserId: string;
  /** A fresh, isolated context (1366x768, en-ZA, Africa/Johannesburg, fixed user agent). */
  readonly context: BrowserContext;
  /** False once the browser, the connection to it, or the context is gone. */
  isConnected(): boolean;
  /** Throws RpaError BROWSER_GONE when `isConnected()` is false. */
  assertAlive(): void;
  /**
   * Maps an error thrown while using this lease: BROWSER_GONE when the browser went away under
   * it (Playwright's "Target page, context or browser has been closed" and friends), else the
   * error unchanged.
   */
  classify(err: unknown): unknown;
  /** Closes the context, lets go of the connection and ends the lease on the pool. Never throws. */
  release(): Promise<void>;
}

/** What the client does for a lease it handed out. */
export interface LeaseHooks {
  /** Renews the lease on the pool; resolves false when the pool no longer knows it. */
  renew(leaseId: string): Promise<boolean>;
  /** Called once on release after the context is closed: drop the connection ref, DELETE the lease. */
  finish(lease: RemoteBrowserLease): Promise<void>;
  onRenewLost(lease: RemoteBrowserLease): void;
}

/** BrowserLease over a Playwright connection to a pool browser; made by PoolClient. */
export class RemoteBrowserLease implements BrowserLease {
  readonly leaseId: string;
  readonly browserId: string;
  readonly context: BrowserContext;
  private readonly browser: Browser;
  private readonly hooks: LeaseHooks;
  private readonly renewTimer: NodeJS.Timeout;
  private contextClosed = false;
  private released?: Promise<void>;

  constructor(args: { leaseId: string; browserId: string; browser: Browser; context: BrowserContext; renewEveryMs: number; hooks: LeaseHooks }) {
    this.leaseId = args.leaseId;
    this.browserId = args.browserId;
    this.browser = args.browser;
    this.context = args.context;
    this.hooks = args.hooks;
    this.context.once('close', () => {
      this.contextClosed = true;
    });
    this.renewTimer = setInterval(() => void this.renew(), args.renewEveryMs);
    this.renewTimer.unref();
  }

  isConnected(): boolean {
    return !this.contextClosed && this.browser.isConnected();
  }

  assertAlive(): void {
    if (!this.isConnected()) throw browserGoneError(this.browserId);
  }

  classify(err: unknown): unknown {
    if (isRpaError(err, 'BROWSER_GONE')) return err;
    // Whatever failed while the browser went away failed because it went away.
    if (isBrowserGone(err) || !this.isConnected()) return browserGoneError(this.browserId, err);
    return err;
  }

  release(): Promise<void> {
    this.released ??= this.releaseOnce();
    return this.released;
  }

  private async releaseOnce(): Promise<void> {
    clearInterval(this.renewTimer);
    // Closing a context on a dead browser throws; the browser took the context with it.
    if (this.browser.isConnected()) {
      await withTimeout(this.context.close(), CLOSE_TIMEOUT_MS, () => new Error('context close timed out')).catch(() => undefined);
    }
    await this.hooks.finish(this);
  }

  private async renew(): Promise<void> {
    if (this.released) return;
    const known = await this.hooks.renew(this.leaseId).catch(() => true);
    if (!known && !this.released) {
      clearInterval(this.renewTimer);
      this.hooks.onRenewLost(this);
    }
  }
}

