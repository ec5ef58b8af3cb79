import type { BrowserContext, Page } from 'playwright-core';
import type { EvidenceItem } from '../evidence/evidence-item.js';
import type { EvidenceRecorder } from '../evidence/evidence-recorder.js';
import { RpaError, hasScope, isRpaError } from '../errors/failures.js';
import { coerceError } from '../errors/coerce-error.js';
import { silentLogger, type Logger } from '../logger.js';
import type { RetryPolicy } from './portal-retry.js';
import type {
  CancellationParams,
  CancellationResult,
  ProviderAutomation,
  ProviderCredentials,
  ProviderSessionContext,
  ValidationResult,
} from './provider.js';
import { resolveTimeouts, type ProviderTimeouts } from './provider-timeouts.js';
import { LoginGate } from './login-gate.js';
import { SessionPages } from './session-pages.js';

export interface ProviderSessionOptions {
  automation: ProviderAutomation;
  /** A leased context; the session opens its page in it but does not close the context. */
  context: BrowserContext;
  /** The portal's base URL. */
  baseUrl: string;
  credentials: ProviderCredentials;
  /** For providers whose descriptor says needsTotp: a fresh code, fetched when it is typed. */
  getTotp?: () => Promise<string>;
  reportTotp?: (outcome: 'accepted' | 'refused') => Promise<void>;
  /** Uploads each screenshot and failure record to the evidence store (the job's own keys). */
  evidence: EvidenceRecorder;
  batchId: string;
  logger?: Logger;
  /** Told when a page found the session ended by the portal, with how long it had lived since its login (once per lost session). */
  onSessionLost?: (aliveMs: number) => void;
  timeouts?: Partial<ProviderTimeouts>;
  retry?: Partial<RetryPolicy>;
}

/** A cancellation's submit hooks (ProviderSessionContext `beforeSubmit` / `afterSubmit`), per job. */
export type SubmitHooks = Pick<ProviderSessionContext, 'beforeSubmit' | 'afterSubmit'>;

/** What an operation returns: the job's result and the evidence stored for it. */
export interface JobOutcome<R> {
  result: R;
  evidence: EvidenceItem[];
}

/**
 * Runs one provider automation in one browser context for one batch: one login serves every
 * job. Jobs may run at once on several pages of the context (one per lane, sharing its
 * cookies); an operation that finds the session gone logs in again once (a fresh TOTP code)
 * and runs once more, and pages that find it gone at the same time wait for that one login
 * (LoginGate) instead of each logging in. Evidence, uploaded to the evidence store as it is
 * taken: a screenshot at each of the automation's evidence points (a validation's result, a
 * cancellation's filled form and its confirmation, already-cancelled or not-found page) and,
 * where a job failed, a screenshot of the page with a JSON record beside it (code, message, page
 * path, and for a PAGE_CONTRACT_MISMATCH the failing selector and the DOM snippet); a failed
 * job's RpaError carries its items in `details.evidence`. A screenshot that cannot be taken or
 * stored is logged and left out: it must not undo a portal side effect.
 */
export class ProviderSession {
  /** Successful logins so far, re-logins included. */
  loginCount = 0;
  private readonly pages: SessionPages;
  private readonly gate = new LoginGate();
  private loggedInAt = 0;
  private closed = false;
  private readonly logger: Logger;
  private readonly provider: string;

  constructor(private readonly options: ProviderSessionOptions) {
    this.provider = options.automation.descriptor.name;
    this.logger = (options.logger ?? silentLogger).child({ provider: this.provider, batch_id: options.batchId });
    const t = resolveTimeouts(options);
    this.pages = new SessionPages(options.context, (page) => {
      page.setDefaultTimeout(t.actionMs);
      page.setDefaultNavigationTimeout(t.navigationMs);
    });
  }

  get isLoggedIn(): boolean {
    return this.gate.isLoggedIn;
  }

  /** Logs in (again), on lane 0's page. Throws the automation's RpaError, with a screenshot of the page in `details.evidence`. */
  async login(): Promise<void> {
    const evidence: EvidenceItem[] = [];
    const ctx = await this.contextFor(undefined, evidence, this.logger, await this.pages.page(0));
    await this.gate.relogin(this.gate.generation, () => this.loginWith(ctx, evidence));
  }

  /** Validates a circuit on the page of `lane` (0 … pages − 1; one job per lane at a time). */
  async validate(jobId: string, circuitNumber: string, lane = 0): Promise<JobOutcome<ValidationResult>> {
    return this.run(jobId, 'validate', (ctx) => this.options.automation.validate(ctx, circuitNumber), {}, lane);
  }

  async cancel(jobId: string, params: CancellationParams, hooks: SubmitHooks = {}, lane = 0): Promise<JobOutcome<CancellationResult>> {
    return this.run(jobId, 'cancel', (ctx) => this.options.automation.cancel(ctx, params), hooks, lane);
  }

  /**
   * The contract canary on this session (logging in first if needed): resolves when the portal's
   * circuit pages look as SPEC.md fixes them, throws PAGE_CONTRACT_MISMATCH (selector and DOM
   * snippet in its details, a screenshot in `details.evidence`) when they do not.
   */
  async checkContract(): Promise<void> {
    await this.run(undefined, 'contract check', (ctx) => this.options.automation.checkContract(ctx));
  }

  /** Logs out when logged in; the portal slot is freed. */
  async logout(): Promise<void> {
    if (!this.gate.isLoggedIn) return;
    const page = await this.pages.anyOpen();
    if (!page) return;
    const ctx = await this.contextFor(undefined, [], this.logger, page);
    this.gate.loggedOut();
    await this.options.automation.logout(ctx);
    this.logger.info('logged out');
  }

  /** Logs out (best effort) and closes the page. Safe to call twice. The context stays the caller's. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.logout();
    } catch (thrown) {
      this.logger.warn({ err: coerceError(thrown).toJSON() }, 'logout failed while closing the session');
    }
    await this.pages.closeAll();
  }

  private async run<R>(jobId: string | undefined, operation: string, step: (ctx: ProviderSessionContext) => Promise<R>, hooks: SubmitHooks = {}, lane = 0): Promise<JobOutcome<R>> {
    if (this.closed) throw new RpaError('INTERNAL', 'provider session is closed');
    const logger = this.logger.child({ ...(jobId === undefined ? {} : { job_id: jobId }), operation, ...(lane > 0 ? { lane } : {}) });
    const evidence: EvidenceItem[] = [];
    // One context for the job, re-login included: the cancel flow remembers a lost answer by it.
    const ctx: ProviderSessionContext = { ...(await this.contextFor(jobId, evidence, logger, await this.pages.page(lane))), ...hooks };
    const started = Date.now();
    try {
      // Logged in already, or a login under way on another page: this page waits for it.
      await this.gate.ready(() => this.loginWith(ctx, evidence, jobId));
      let result: R;
      const generation = this.gate.generation;
      try {
        result = await step(ctx);
      } catch (thrown) {
        if (!(await this.sessionLost(ctx, thrown))) throw thrown;
        logger.warn('session lost, logging in again (once for every page of the session)');
        await this.gate.relogin(generation, async () => {
          // Run by the one page that starts the re-login: the lost session is counted once.
          this.options.onSessionLost?.(Date.now() - this.loggedInAt);
          await this.loginWith(ctx, evidence, jobId);
        });
        result = await step(ctx);
      }
      logger.info({ duration_ms: Date.now() - started, evidence: evidence.length }, `${operation} done`);
      return { result, evidence };
    } catch (thrown) {
      const error = coerceError(thrown);
      if (!(error.details?.evidence)) await this.captureFailure(ctx.page, jobId, 'failed', error, evidence, logger);
      logger.warn({ duration_ms: Date.now() - started, code: error.code, scope: error.scope, err: error.message }, `${operation} failed`);
      throw withEvidence(error, evidence);
    }
  }

  private async sessionLost(ctx: ProviderSessionContext, thrown: unknown): Promise<boolean> {
    if (hasScope(thrown, 'session')) return true;
    if (isRpaError(thrown) && thrown.code !== 'PAGE_CONTRACT_MISMATCH') return false;
    // A page that did not match may be the login page the portal sent us to.
    return this.options.automation.isSessionLost(ctx).catch(() => false);
  }

  private async loginWith(ctx: ProviderSessionContext, evidence: EvidenceItem[], jobId?: string): Promise<void> {
    const started = Date.now();
    try {
      await this.options.automation.login(ctx);
    } catch (thrown) {
      const error = coerceError(thrown);
      await this.captureFailure(ctx.page, jobId, 'login-failed', error, evidence, ctx.logger);
      ctx.logger.warn({ code: error.code, scope: error.scope, err: error.message }, 'login failed');
      throw withEvidence(error, evidence);
    }
    this.loginCount++;
    this.loggedInAt = Date.now();
    ctx.logger.info({ duration_ms: Date.now() - started, login_count: this.loginCount }, 'logged in');
  }

  private async contextFor(jobId: string | undefined, evidence: EvidenceItem[], logger: Logger, page: Page): Promise<ProviderSessionContext> {
    const o = this.options;
    return {
      page,
      baseUrl: o.baseUrl.replace(/\/+$/, ''),
      credentials: o.credentials,
      getTotp: o.getTotp,
      reportTotp: o.reportTotp,
      logger,
      timeouts: o.timeouts,
      retry: o.retry,
      captureEvidence: async (label) => {
        const item = await this.screenshot(page, jobId, label, o.evidence.moment(), logger);
        if (item) evidence.push(item);
        return item?.name;
      },
    };
  }

  /**
   * The evidence of a failure: the page as it was, and beside it (the same time in its name) a
   * JSON record of what failed: code, message, the page's path, and for a PAGE_CONTRACT_MISMATCH
   * the selector that did not match and the DOM snippet (form values and secrets already removed).
   */
  private async captureFailure(page: Page, jobId: string | undefined, step: string, error: RpaError, evidence: EvidenceItem[], logger: Logger): Promise<void> {
    const takenAt = this.options.evidence.moment();
    const shot = await this.screenshot(page, jobId, step, takenAt, logger);
    if (shot) evidence.push(shot);
    let path: string | null = null;
    try {
      path = page.isClosed() ? null : new URL(page.url()).pathname;
    } catch {
      path = null;
    }
    const details = error.details ?? {};
    const record = {
      step,
      code: error.code,
      message: error.message,
      page: path,
      ...(typeof details.selector === 'string' ? { selector: details.selector } : {}),
      ...(typeof details.dom_snippet === 'string' ? { dom_snippet: details.dom_snippet } : {}),
    };
    const body = Buffer.from(JSON.stringify(record, null, 2) + '\n');
    const item = await this.store(jobId, step, 'application/json', body, takenAt, logger);
    if (item) evidence.push(item);
  }

  private async screenshot(page: Page, jobId: string | undefined, label: string, takenAt: Date, logger: Logger): Promise<EvidenceItem | undefined> {
    let body: Buffer;
    try {
      body = await page.screenshot({ fullPage: true, timeout: resolveTimeouts(this.options).actionMs });
    } catch (thrown) {
      logger.warn({ label, err: coerceError(thrown).message }, 'could not take an evidence screenshot');
      return undefined;
    }
    return this.store(jobId, label, 'image/png', body, takenAt, logger);
  }

  private async store(jobId: string | undefined, step: string, contentType: 'image/png' | 'application/json', body: Buffer, takenAt: Date, logger: Logger): Promise<EvidenceItem | undefined> {
    try {
      return await this.options.evidence.record({ jobId, batchId: this.options.batchId, step, contentType, body, takenAt });
    } catch (thrown) {
      logger.warn({ step, err: coerceError(thrown).message }, 'could not store evidence');
      return undefined;
    }
  }
}

function withEvidence(error: RpaError, evidence: EvidenceItem[]): RpaError {
  if (evidence.length === 0) return error;
  return error.withDetails({ evidence: [...evidence] });
}
