import type { BrowserLease } from '../browser/client/browser-lease.js';
import type { BrowserSource } from '../browser/browser-source.js';
import type { ProviderConfig } from '../config/config.js';
import type { Credentials } from '../config/live-settings.js';
import type { JobRow } from '../db/job-store.js';
import type { EvidenceRecorder } from '../evidence/evidence-recorder.js';
import { RpaError, hasScope } from '../errors/failures.js';
import type { Logger } from '../logger.js';
import { ProviderSession } from '../providers/provider-session.js';
import type { ProviderAutomation, SubmitHooks } from '../providers/provider.js';
import { createTotpHooks } from '../totp/totp-hooks.js';
import type { TotpManager } from '../totp/totp-manager.js';

export interface BatchSessionOptions {
  provider: ProviderConfig;
  /** The portal's base URL; undefined when none is configured and no practice portal runs. */
  portalUrl: string | undefined;
  /** The account as it is at each login (a rotated password is used at the next one). */
  credentials: () => Credentials;
  automation: ProviderAutomation;
  /** Where contexts are leased. */
  browsers: BrowserSource;
  totp: TotpManager;
  /** Uploads the batch's evidence to the evidence store (this process writes it; no shared volume). */
  evidence: EvidenceRecorder;
  batchId: string;
  logger: Logger;
  /** Told when the portal ended a session, with how long it had lived since its login. */
  onSessionLost?: (aliveMs: number) => void;
}

/**
 * The browser side of a batch: a lease, a provider session on it, logged in, whose pages
 * (lanes) may run several jobs at once. When the browser dies, it leases a context on another
 * browser, logs in again and carries on; lanes that find it dead at the same time share that
 * one move (the first starts it, the others wait for it), then each runs its job once more.
 */
export class BatchSession {
  private lease?: BrowserLease;
  private session?: ProviderSession;
  private readonly avoid: string[] = [];
  private earlierLogins = 0;
  /** Goes up each time the batch moved to another browser: a lane that failed on an older one just tries again. */
  private browserEpoch = 0;
  private moving?: Promise<void>;
  /** How long logins waited for their TOTP steps (before leasing a browser), in all. */
  totpWaitMs = 0;

  private readonly log: Logger;

  constructor(private readonly options: BatchSessionOptions) {
    this.log = options.logger;
  }

  get logins(): number {
    return this.earlierLogins + (this.session?.loginCount ?? 0);
  }

  async open(): Promise<void> {
    try {
      await this.openOnce();
    } catch (thrown) {
      if (!hasScope(thrown, 'browser')) throw thrown;
      this.log.warn('browser died during login; trying another browser');
      await this.openOnce();
    }
  }

  private async openOnce(): Promise<void> {
    await this.close();
    const { provider: config, totp } = this.options;
    const provider = config.descriptor.name;
    const baseUrl = this.options.portalUrl;
    if (!baseUrl) throw new RpaError('CONFIG_INVALID', `${provider.toUpperCase()}_URL: no portal URL configured for ${config.descriptor.label}`, { field: `${provider.toUpperCase()}_URL` });
    const account = this.options.credentials();
    const hooks = account.totpSecret ? createTotpHooks(totp, { provider, account: account.login, secret: account.totpSecret }) : undefined;
    // Book the one-time code's step before the lease and the password step, so a login that
    // waits for a free step holds no browser and the portal's pre-auth cannot age out.
    const waitFrom = Date.now();
    await hooks?.prepare();
    this.totpWaitMs += Date.now() - waitFrom;
    try {
      const lease = await this.options.browsers.lease({ avoidBrowserIds: this.avoid });
      this.lease = lease;
      this.session = new ProviderSession({
        automation: this.options.automation,
        context: lease.context,
        baseUrl,
        credentials: { login: account.login, password: account.password },
        getTotp: hooks
          ? async () => {
              // The rest of the wait for the step (prepare() lets the login start ahead of it).
              const from = Date.now();
              try {
                return await hooks.getTotp();
              } finally {
                this.totpWaitMs += Date.now() - from;
              }
            }
          : undefined,
        reportTotp: hooks?.reportTotp,
        evidence: this.options.evidence,
        batchId: this.options.batchId,
        logger: this.log,
        onSessionLost: this.options.onSessionLost,
      });
      try {
        await this.session.login();
      } catch (thrown) {
        const classified = lease.classify(thrown);
        if (hasScope(classified, 'browser')) this.avoid.push(lease.browserId);
        throw classified;
      }
    } finally {
      // A step the login did not take (it failed before its code) goes back to the manager.
      await hooks?.release();
    }
  }

  /**
   * Runs the job's action on the page of `lane`; a dead browser → new context elsewhere, new
   * login, one more try. Lanes run at once; each runs one job at a time.
   */
  async perform(job: JobRow, hooks: SubmitHooks = {}, lane = 0) {
    const epoch = this.browserEpoch;
    const lease = this.lease;
    try {
      return await this.performOnce(job, hooks, lane);
    } catch (thrown) {
      // Classified by the lease the job ran on (another lane may have moved the batch since).
      const classified = lease ? lease.classify(thrown) : thrown;
      if (!hasScope(classified, 'browser')) throw classified;
      await this.moveBrowser(epoch, lease, job.id);
      return this.performOnce(job, hooks, lane);
    }
  }

  /** The contract canary on this session's login (see ProviderSession.checkContract). */
  async checkContract(): Promise<void> {
    try {
      await this.session!.checkContract();
    } catch (thrown) {
      throw this.lease ? this.lease.classify(thrown) : thrown;
    }
  }

  /** One move to another browser for every lane that saw the browser of `epoch` die. */
  private moveBrowser(epoch: number, dead: BrowserLease | undefined, jobId: string): Promise<void> {
    if (this.moving) return this.moving;
    if (this.browserEpoch !== epoch) return Promise.resolve();
    this.log.warn({ job_id: jobId }, 'browser died mid-job; logging in again on another browser');
    if (dead) this.avoid.push(dead.browserId);
    this.moving = (async () => {
      try {
        await this.open();
        this.browserEpoch += 1;
      } finally {
        this.moving = undefined;
      }
    })();
    return this.moving;
  }

  private async performOnce(job: JobRow, hooks: SubmitHooks, lane: number) {
    const session = this.session;
    if (!session) throw new RpaError('BROWSER_GONE', `batch ${this.options.batchId}: no browser session (the move to another browser failed)`);
    const params = job.parameters;
    return job.action === 'validation'
      ? session.validate(job.id, params.circuit_number, lane)
      : session.cancel(job.id, { circuit_number: params.circuit_number, reason: params.reason, effective_date: params.effective_date }, hooks, lane);
  }

  async close(): Promise<void> {
    if (this.session) {
      this.earlierLogins += this.session.loginCount;
      await this.session.close().catch(() => undefined);
      this.session = undefined;
    }
    if (this.lease) {
      await this.lease.release();
      this.lease = undefined;
    }
  }
}
