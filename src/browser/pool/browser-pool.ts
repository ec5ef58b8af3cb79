import { randomBytes, randomUUID } from 'node:crypto';
import { RpaError } from '../../errors/failures.js';
import type { Logger } from '../../logger.js';
import { PLAYWRIGHT_VERSION } from '../client/playwright-version.js';
import type { BrowserInfo, BrowserState, LeaseRequest, PoolStatus, RetireReason } from './pool-api.js';
import { PooledBrowser } from './pooled-browser.js';

export interface BrowserPoolOptions {
  /** Browsers kept starting or ready (retiring and dead ones do not count). */
  size: number;
  chromiumPath: string;
  /** Leases (one context each) a browser holds at most. */
  maxContextsPerBrowser: number;
  /** A browser retires once it has granted this many leases. */
  retireAfterContexts: number;
  /** A browser retires when its process tree's RSS exceeds this. */
  maxMemoryMb: number;
  logger: Logger;
  /** Lease TTL when the client asks for none (default 5 min); clients renew while they hold it. */
  defaultLeaseTtlMs?: number;
  /** Longest TTL a client may ask for (default 1 h). */
  maxLeaseTtlMs?: number;
  /** How often leases are reaped and browsers probed (default 2 s). */
  healthIntervalMs?: number;
  /** Longest wait for a browser to launch (default 30 s). */
  launchTimeoutMs?: number;
  /** Longest wait for a probe answer; two misses in a row and the browser is killed (default 5 s). */
  probeTimeoutMs?: number;
}

/** A lease granted by the pool (the HTTP layer adds the ws endpoint through the pool's port). */
export interface GrantedLease {
  leaseId: string;
  browser: PooledBrowser;
  expiresAt: Date;
}

/** Samples in a row with more open contexts than leases before a browser is retired for leaking. */
const ORPHAN_SAMPLES_BEFORE_RETIRE = 3;
/** How long a crashed browser stays listed as `dead`. */
const DEAD_RETENTION_MS = 60_000;
const MAX_RELAUNCH_BACKOFF_MS = 30_000;

/**
 * The set of Chromium browser servers: `starting` → `ready` → `retiring` → closed, or `dead`
 * when one exits unexpectedly. The pool keeps `size` browsers starting or ready: it relaunches a
 * crashed browser, retires one after `retireAfterContexts` leases or above `maxMemoryMb`, and
 * closes a retiring browser once its last lease ends. Leases expire unless renewed, so a client
 * that died without releasing does not hold a slot forever.
 */
export class BrowserPool {
  private readonly options: Required<Omit<BrowserPoolOptions, 'logger'>>;
  private readonly logger: Logger;
  private readonly browsers = new Map<string, PooledBrowser>();
  private readonly launches = new Set<Promise<void>>();
  private healthTimer?: NodeJS.Timeout;
  private relaunchTimer?: NodeJS.Timeout;
  private relaunchBackoffMs = 0;
  private checking = false;
  private lastCheck: Promise<void> = Promise.resolve();
  private closed = false;
  private sequence = 0;
  private readonly counters = { restarts: 0, retired: 0, leasesGranted: 0, leasesExpired: 0 };

  constructor(options: BrowserPoolOptions) {
    if (options.size < 1) throw new RpaError('CONFIG_INVALID', 'browser pool size must be at least 1', { field: 'size' });
    if (options.maxContextsPerBrowser < 1) {
      throw new RpaError('CONFIG_INVALID', 'maxContextsPerBrowser must be at least 1', { field: 'maxContextsPerBrowser' });
    }
    this.logger = options.logger.child({ component: 'browser-pool' });
    this.options = {
      size: options.size,
      chromiumPath: options.chromiumPath,
      maxContextsPerBrowser: options.maxContextsPerBrowser,
      retireAfterContexts: options.retireAfterContexts,
      maxMemoryMb: options.maxMemoryMb,
      defaultLeaseTtlMs: options.defaultLeaseTtlMs ?? 300_000,
      maxLeaseTtlMs: options.maxLeaseTtlMs ?? 3_600_000,
      healthIntervalMs: options.healthIntervalMs ?? 2_000,
      launchTimeoutMs: options.launchTimeoutMs ?? 30_000,
      probeTimeoutMs: options.probeTimeoutMs ?? 5_000,
    };
  }

  /** Launches the browsers; resolves once every first launch has ended. Throws when none started. */
  async start(): Promise<void> {
    this.fill();
    await Promise.allSettled([...this.launches]);
    if (this.closed) return;
    // A pass still running (a slow probe) makes the timer skip a beat rather than queue passes.
    this.healthTimer = setInterval(() => {
      if (!this.checking) void this.check();
    }, this.options.healthIntervalMs);
    this.healthTimer.unref();
    if (this.count('ready') === 0) {
      await this.close();
      throw new RpaError('SERVICE_UNAVAILABLE', `no browser could be launched from ${this.options.chromiumPath}`);
    }
  }

  /**
   * Grants a lease on the least-loaded ready browser with room, preferring browsers not in
   * `avoidBrowserIds`. Throws SERVICE_UNAVAILABLE when no browser is ready and
   * BROWSER_POOL_EXHAUSTED when every ready browser is full.
   */
  acquire(request: LeaseRequest = {}): GrantedLease {
    if (this.closed) throw new RpaError('SERVICE_UNAVAILABLE', 'browser pool is closing');
    const ready = [...this.browsers.values()].filter((b) => b.state === 'ready');
    if (ready.length === 0) throw new RpaError('SERVICE_UNAVAILABLE', 'no browser is ready');
    const withRoom = ready.filter((b) => b.leases.size < this.options.maxContextsPerBrowser);
    if (withRoom.length === 0) {
      throw new RpaError('BROWSER_POOL_EXHAUSTED', 'every browser is at its context limit');
    }
    const avoid = new Set(request.avoidBrowserIds ?? []);
    const preferred = withRoom.filter((b) => !avoid.has(b.id));
    const candidates = preferred.length > 0 ? preferred : withRoom;
    const browser = candidates.reduce((best, b) =>
      b.leases.size < best.leases.size || (b.leases.size === best.leases.size && b.contextsCreated < best.contextsCreated) ? b : best,
    );
    const ttlMs = this.ttl(request.ttlMs);
    const lease = { leaseId: randomUUID(), expiresAt: Date.now() + ttlMs };
    browser.leases.set(lease.leaseId, lease);
    browser.contextsCreated += 1;
    this.counters.leasesGranted += 1;
    this.logger.debug({ browser_id: browser.id, lease_id: lease.leaseId, ttl_ms: ttlMs }, 'lease granted');
    if (browser.contextsCreated >= this.options.retireAfterContexts) this.retire(browser, 'contexts');
    return { leaseId: lease.leaseId, browser, expiresAt: new Date(lease.expiresAt) };
  }

  /** Extends a lease; throws NOT_FOUND when it expired, was released or its browser died. */
  renew(leaseId: string, ttlMs?: number): GrantedLease {
    for (const browser of this.browsers.values()) {
      const lease = browser.leases.get(leaseId);
      if (!lease) continue;
      lease.expiresAt = Date.now() + this.ttl(ttlMs);
      return { leaseId, browser, expiresAt: new Date(lease.expiresAt) };
    }
    throw new RpaError('NOT_FOUND', 'no such lease (expired, released, or its browser is gone)');
  }

  /** Ends a lease. Idempotent: false when there was no such lease. */
  release(leaseId: string): boolean {
    for (const browser of this.browsers.values()) {
      if (!browser.leases.delete(leaseId)) continue;
      this.logger.debug({ browser_id: browser.id, lease_id: leaseId }, 'lease released');
      if (browser.state === 'retiring' && browser.leases.size === 0) this.closeRetired(browser);
      return true;
    }
    return false;
  }

  /** A browser by id (for the HTTP layer and tests). */
  get(browserId: string): PooledBrowser | undefined {
    return this.browsers.get(browserId);
  }

  list(): BrowserInfo[] {
    return [...this.browsers.values()].map((b) => b.info());
  }

  /** Ready = at least one ready browser with room for another lease. */
  isReady(): boolean {
    return [...this.browsers.values()].some((b) => b.state === 'ready' && b.leases.size < this.options.maxContextsPerBrowser);
  }

  status(): PoolStatus {
    const all = [...this.browsers.values()];
    const live = all.filter((b) => b.state === 'ready' || b.state === 'retiring');
    return {
      playwrightVersion: PLAYWRIGHT_VERSION,
      size: this.options.size,
      browsers: { starting: this.count('starting'), ready: this.count('ready'), retiring: this.count('retiring'), dead: this.count('dead') },
      maxContextsPerBrowser: this.options.maxContextsPerBrowser,
      busyContexts: live.reduce((n, b) => n + b.leases.size, 0),
      openContexts: live.reduce((n, b) => n + b.contexts, 0),
      freeSlots: all
        .filter((b) => b.state === 'ready')
        .reduce((n, b) => n + Math.max(0, this.options.maxContextsPerBrowser - b.leases.size), 0),
      ...this.counters,
    };
  }

  /**
   * One health pass: reap expired leases, probe each browser (context count over CDP, memory
   * from /proc), retire or kill what misbehaves. Runs on a timer; a caller (a test, a status
   * request that wants fresh numbers) may call it too: it then waits for a pass already running
   * and runs a fresh one, so the numbers it leaves behind are newer than the call.
   */
  check(): Promise<void> {
    const run = this.lastCheck.then(() => this.checkOnce());
    this.lastCheck = run.catch((err: unknown) => this.logger.error({ err }, 'browser pool health pass failed'));
    return run;
  }

  private async checkOnce(): Promise<void> {
    if (this.closed) return;
    this.checking = true;
    try {
      const now = Date.now();
      await Promise.all(
        [...this.browsers.values()].map(async (browser) => {
          if (browser.state === 'dead') {
            if (browser.deadAt && now - browser.deadAt.getTime() > DEAD_RETENTION_MS) this.browsers.delete(browser.id);
            return;
          }
          if (browser.state === 'starting') return;
          this.reapExpired(browser, now);
          if (browser.state === 'retiring' && browser.leases.size === 0) return this.closeRetired(browser);
          await this.probe(browser);
        }),
      );
    } finally {
      this.checking = false;
    }
  }

  /** Closes every browser; runs every step even when one fails. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.healthTimer);
    clearTimeout(this.relaunchTimer);
    await Promise.allSettled([...this.launches]);
    const results = await Promise.allSettled([...this.browsers.values()].map((b) => b.close()));
    this.browsers.clear();
    for (const r of results) if (r.status === 'rejected') this.logger.warn({ err: r.reason }, 'closing a browser failed');
  }

  private ttl(requested: number | undefined): number {
    const ttl = requested ?? this.options.defaultLeaseTtlMs;
    return Math.max(1_000, Math.min(ttl, this.options.maxLeaseTtlMs));
  }

  private count(state: BrowserState): number {
    let n = 0;
    for (const b of this.browsers.values()) if (b.state === state) n += 1;
    return n;
  }

  private reapExpired(browser: PooledBrowser, now: number): void {
    for (const lease of [...browser.leases.values()]) {
      if (lease.expiresAt > now) continue;
      browser.leases.delete(lease.leaseId);
      this.counters.leasesExpired += 1;
      this.logger.warn({ browser_id: browser.id, lease_id: lease.leaseId }, 'lease expired without release; reclaimed');
    }
  }

  private async probe(browser: PooledBrowser): Promise<void> {
    try {
      await browser.sample(this.options.probeTimeoutMs);
      browser.failedProbes = 0;
    } catch (err) {
      if (browser.state === 'dead') return;
      browser.failedProbes += 1;
      this.logger.warn({ browser_id: browser.id, failed_probes: browser.failedProbes, err }, 'browser probe failed');
      // Two misses in a row: the browser hangs. Killing it goes down the crash path (relaunch).
      if (browser.failedProbes >= 2) await browser.kill();
      return;
    }
    if (browser.state !== 'ready') return;
    if (browser.memoryMb > this.options.maxMemoryMb) return this.retire(browser, 'memory');
    // More contexts than leases means a client kept a context past its lease (or made extra
    // ones). A few samples in a row and the browser retires: closing it ends the orphans.
    browser.orphanSamples = browser.contexts > browser.leases.size ? browser.orphanSamples + 1 : 0;
    if (browser.orphanSamples >= ORPHAN_SAMPLES_BEFORE_RETIRE) this.retire(browser, 'orphaned-contexts');
  }

  private retire(browser: PooledBrowser, reason: RetireReason): void {
    if (browser.state !== 'ready') return;
    browser.state = 'retiring';
    browser.retireReason = reason;
    this.counters.retired += 1;
    this.logger.info(
      { browser_id: browser.id, reason, contexts_created: browser.contextsCreated, memory_mb: browser.memoryMb, leases: browser.leases.size },
      'browser retiring',
    );
    this.fill();
    if (browser.leases.size === 0) this.closeRetired(browser);
  }

  private closeRetired(browser: PooledBrowser): void {
    browser.close().then(
      () => this.browsers.delete(browser.id),
      (err: unknown) => this.logger.warn({ browser_id: browser.id, err }, 'closing a retired browser failed'),
    );
  }

  /** Launches browsers until `size` are starting or ready. */
  private fill(): void {
    if (this.closed) return;
    const missing = this.options.size - this.count('starting') - this.count('ready');
    for (let i = 0; i < missing; i += 1) this.launchOne();
  }

  private launchOne(): void {
    this.sequence += 1;
    const id = `b${this.sequence}-${randomBytes(3).toString('hex')}`;
    const browser = new PooledBrowser({
      id,
      chromiumPath: this.options.chromiumPath,
      launchTimeoutMs: this.options.launchTimeoutMs,
      logger: this.logger,
      onExit: (b, exit) => this.handleExit(b, exit),
    });
    this.browsers.set(id, browser);
    const launch = browser.launch().then(
      () => {
        this.relaunchBackoffMs = 0;
        if (this.closed) void browser.close();
      },
      (err: unknown) => {
        this.browsers.delete(id);
        if (this.closed) return;
        this.relaunchBackoffMs = Math.min(MAX_RELAUNCH_BACKOFF_MS, Math.max(1_000, this.relaunchBackoffMs * 2));
        this.logger.error({ browser_id: id, err, retry_in_ms: this.relaunchBackoffMs }, 'browser launch failed');
        this.scheduleFill();
      },
    );
    this.launches.add(launch);
    void launch.finally(() => this.launches.delete(launch));
  }

  private scheduleFill(): void {
    if (this.relaunchTimer || this.closed) return;
    this.relaunchTimer = setTimeout(() => {
      this.relaunchTimer = undefined;
      this.fill();
    }, this.relaunchBackoffMs);
    this.relaunchTimer.unref();
  }

  private handleExit(browser: PooledBrowser, exit: { expected: boolean; exitCode: number | null; signal: string | null }): void {
    if (exit.expected || browser.state === 'starting') {
      // Closed on purpose, or died while starting (the launch failure path handles that).
      if (browser.state !== 'starting') this.browsers.delete(browser.id);
      return;
    }
    const lost = browser.leases.size;
    browser.leases.clear();
    browser.contexts = 0;
    const wasRetiring = browser.state === 'retiring';
    browser.state = 'dead';
    browser.deadAt = new Date();
    this.counters.restarts += 1;
    this.logger.warn(
      { browser_id: browser.id, exit_code: exit.exitCode, signal: exit.signal, leases_lost: lost, was_retiring: wasRetiring },
      'browser exited unexpectedly; relaunching',
    );
    this.fill();
  }
}
