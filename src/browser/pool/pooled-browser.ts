import { randomBytes } from 'node:crypto';
import { chromium, type Browser, type BrowserServer, type CDPSession } from 'playwright-core';
import { sameSecret } from '../../http/bearer-auth.js';
import type { Logger } from '../../logger.js';
import { scrubbedCause } from '../client/browser-gone.js';
import { withTimeout } from '../../infra/with-timeout.js';
import { chromiumEnvironment } from './chromium-environment.js';
import { CHROMIUM_FLAGS } from './chromium-flags.js';
import type { BrowserInfo, BrowserState, RetireReason } from './pool-api.js';
import { processTreeRssMb } from './process-tree-memory.js';

export interface PooledBrowserOptions {
  id: string;
  chromiumPath: string;
  launchTimeoutMs: number;
  logger: Logger;
  /** Called once when the Chromium process exits; `expected` when we closed it. */
  onExit: (browser: PooledBrowser, exit: { expected: boolean; exitCode: number | null; signal: string | null }) => void;
}

/** A lease as the pool holds it. */
export interface HeldLease {
  leaseId: string;
  expiresAt: number;
}

/** Where the Playwright server of every browser listens: inside the pool's process or pod only. */
export const BROWSER_BIND_HOST = '127.0.0.1';

/**
 * One Chromium browser server (Playwright `launchServer`) and the pool's own monitoring
 * connection to it. The monitor reads the real number of browser contexts over CDP
 * (`Target.getBrowserContexts` sees every client's contexts) and doubles as the liveness probe.
 *
 * The Playwright server binds 127.0.0.1 on a port of its own; clients never see that port. They
 * reach the browser through the pool's one port at `/browsers/<id>/<secret>` (pool-server.ts
 * proxies the WebSocket), so a pod or a firewall needs to open the pool port alone.
 */
export class PooledBrowser {
  readonly id: string;
  state: BrowserState = 'starting';
  readonly leases = new Map<string, HeldLease>();
  contextsCreated = 0;
  contexts = 0;
  memoryMb = 0;
  launchedAt?: Date;
  deadAt?: Date;
  retireReason?: RetireReason;
  /** Consecutive failed probes / consecutive samples with more contexts than leases. */
  failedProbes = 0;
  orphanSamples = 0;

  private readonly options: PooledBrowserOptions;
  private readonly logger: Logger;
  /** The unguessable part of the ws endpoint: whoever knows it (and the pool token) controls the browser. */
  private readonly secret = randomBytes(24).toString('base64url');
  private server?: BrowserServer;
  private monitor?: Browser;
  private cdp?: CDPSession;
  private port?: number;
  private closing = false;
  private closed?: Promise<void>;
  private exited = false;

  constructor(options: PooledBrowserOptions) {
    this.options = options;
    this.id = options.id;
    this.logger = options.logger.child({ browser_id: options.id });
  }

  get pid(): number | undefined {
    return this.server?.process().pid;
  }

  /** Starts Chromium and the monitor; rejects (and leaves nothing running) when either fails. */
  async launch(): Promise<void> {
    try {
      this.server = await chromium.launchServer({
        executablePath: this.options.chromiumPath,
        args: [...CHROMIUM_FLAGS],
        headless: true,
        host: BROWSER_BIND_HOST,
        port: 0,
        wsPath: `/${this.secret}`,
        // Chromium gets only what it needs, not the secrets of the process that runs the pool.
        env: chromiumEnvironment(),
        timeout: this.options.launchTimeoutMs,
        // The pool decides when browsers end; a Ctrl-C reaches the pool, which closes them.
        handleSIGINT: false,
        handleSIGTERM: false,
        handleSIGHUP: false,
      });
      this.server.on('close', (...args: unknown[]) => this.handleExit(args[0], args[1]));
      this.port = Number(new URL(this.server.wsEndpoint()).port);
      this.monitor = await chromium.connect(this.loopbackEndpoint(), { timeout: this.options.launchTimeoutMs });
      this.cdp = await this.monitor.newBrowserCDPSession();
      if (this.closing) throw new Error('pool closed while the browser was starting');
      this.launchedAt = new Date();
      this.state = 'ready';
      this.sampleMemory();
      this.logger.info({ pid: this.pid }, 'browser ready');
    } catch (err) {
      this.closing = true;
      await this.server?.kill().catch(() => undefined);
      throw scrubbedCause(err);
    }
  }

  /** The path of this browser on the pool's port: `/browsers/<id>/<secret>`. Contains the secret. */
  endpointPath(): string {
    return `/browsers/${encodeURIComponent(this.id)}/${this.secret}`;
  }

  /** True when `presented` is this browser's secret (compared in constant time). */
  hasSecret(presented: string): boolean {
    return sameSecret(presented, this.secret);
  }

  /** Port and path of the Playwright server on 127.0.0.1, for the pool's proxy; undefined before launch. */
  loopbackTarget(): { port: number; path: string } | undefined {
    return this.port === undefined ? undefined : { port: this.port, path: `/${this.secret}` };
  }

  private loopbackEndpoint(): string {
    return `ws://${BROWSER_BIND_HOST}:${this.port}/${this.secret}`;
  }

  /** Reads the open context count over CDP (throws when the browser does not answer in time) and the memory. */
  async sample(timeoutMs: number): Promise<void> {
    const cdp = this.cdp;
    if (!cdp) throw new Error('no monitor session');
    const result = await withTimeout(
      cdp.send('Target.getBrowserContexts'),
      timeoutMs,
      () => new Error(`browser did not answer within ${timeoutMs} ms`),
    );
    this.contexts = result.browserContextIds.length;
    this.sampleMemory();
  }

  private sampleMemory(): void {
    const pid = this.pid;
    if (pid !== undefined) this.memoryMb = processTreeRssMb(pid);
  }

  /** Closes the browser on purpose (retired or pool closing); its exit is then `expected`. */
  close(timeoutMs = 10_000): Promise<void> {
    this.closed ??= this.closeOnce(timeoutMs);
    return this.closed;
  }

  private async closeOnce(timeoutMs: number): Promise<void> {
    this.closing = true;
    if (!this.server || this.exited) return;
    await this.monitor?.close().catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const graceful = this.server.close().then(() => true, () => false);
    const late = new Promise<boolean>((resolveLate) => {
      timer = setTimeout(() => resolveLate(false), timeoutMs);
      timer.unref();
    });
    const closed = await Promise.race([graceful, late]);
    clearTimeout(timer);
    if (!closed) await this.server.kill().catch(() => undefined);
  }

  /** Kills an unresponsive browser; the pool sees an unexpected exit and relaunches. */
  async kill(): Promise<void> {
    await this.server?.kill().catch(() => undefined);
  }

  info(): BrowserInfo {
    return {
      id: this.id,
      state: this.state,
      pid: this.pid,
      contexts: this.contexts,
      leases: this.leases.size,
      contextsCreated: this.contextsCreated,
      memoryMb: this.memoryMb,
      launchedAt: this.launchedAt?.toISOString(),
      retireReason: this.retireReason,
    };
  }

  private handleExit(exitCode: unknown, signal: unknown): void {
    if (this.exited) return;
    this.exited = true;
    this.cdp = undefined;
    this.options.onExit(this, {
      expected: this.closing,
      exitCode: typeof exitCode === 'number' ? exitCode : null,
      signal: typeof signal === 'string' ? signal : null,
    });
  }
}
