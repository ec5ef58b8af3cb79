import { RpaError } from '../../errors/failures.js';
import { answerWithoutSubmitting } from '../cancellation-precheck.js';
import { cancellationRequest } from '../cancellation-request.js';
import { readFoundCircuit } from '../found-circuit.js';
import { checkedCircuitNumber, invalidCircuit } from '../circuit-number.js';
import { contractMismatch, firstVisible, openUrl, submitForm, textOf, type PageLoad } from '../portal-page.js';
import { portalHiccup, withPortalRetry } from '../portal-retry.js';
import type {
  CancellationParams,
  CancellationResult,
  ProviderAutomation,
  ProviderDescriptor,
  ProviderSessionContext,
  ValidationResult,
} from '../provider.js';
import { resolveTimeouts } from '../provider-timeouts.js';
import { octotelDescriptor } from './descriptor.js';

/** Fresh codes asked for after the first one is refused, within one pre-auth (the portal allows three tries). */
const TOTP_RETRIES = 2;


/**
 * Octotel: server-rendered pages, username + password, then a TOTP code (SPEC.md "Octotel").
 */
export class OctotelAutomation implements ProviderAutomation {
  constructor(readonly descriptor: ProviderDescriptor = octotelDescriptor) {}

  async login(ctx: ProviderSessionContext): Promise<void> {
    if (!ctx.getTotp) {
      throw new RpaError('CONFIG_INVALID', 'Octotel needs a TOTP code source (getTotp) to log in');
    }
    await withPortalRetry(ctx, 'Octotel login', () => this.loginOnce(ctx));
  }

  private async loginOnce(ctx: ProviderSessionContext): Promise<void> {
    const { page } = ctx;
    const t = resolveTimeouts(ctx);
    await openUrl(ctx, '/login', 'the login page');
    const form = page.locator('form#login-form');
    await form.waitFor({ state: 'visible', timeout: t.actionMs }).catch(() => {
      throw contractMismatch('Octotel', 'no form#login-form on the login page', page);
    });
    await form.locator('input#username').fill(ctx.credentials.login, { timeout: t.actionMs });
    await form.locator('input#password').fill(ctx.credentials.password, { timeout: t.actionMs });
    await submitForm(ctx, form.locator('button#login-btn'), 'the Octotel password step', t.loginMs);

    const afterPassword = await firstVisible(
      { otp: page.locator('form#otp-form'), error: page.locator('div.alert-error') },
      t.actionMs,
    );
    if (afterPassword === 'error') throw loginError(await textOf(page.locator('div.alert-error'), t.actionMs));
    if (afterPassword !== 'otp') throw contractMismatch('Octotel', 'neither the OTP form nor an error after the password step', page);

    for (let attempt = 0; attempt <= TOTP_RETRIES; attempt++) {
      const otpForm = page.locator('form#otp-form');
      await otpForm.waitFor({ state: 'visible', timeout: t.actionMs });
      // The code is fetched at the moment it is typed: a code fetched earlier may age out of its step.
      const code = await ctx.getTotp!();
      await otpForm.locator('input#otp').fill(code, { timeout: t.actionMs });
      const load = await submitForm(ctx, otpForm.locator('button#verify-btn'), 'the Octotel OTP step', t.loginMs);

      const outcome = load.url.pathname === '/dashboard' && load.status < 400 ? 'dashboard' : await firstVisible(
        { dashboard: page.locator('span#current-user'), error: page.locator('div.alert-error'), loginForm: page.locator('form#login-form') },
        t.actionMs,
      );
      if (outcome === 'dashboard') {
        await ctx.reportTotp?.('accepted');
        return;
      }
      const message = outcome === 'error' ? await textOf(page.locator('div.alert-error'), t.actionMs) : '';
      // Checked before the code is spent: the code was not judged, so nothing is reported.
      if (/too many active sessions/i.test(message)) throw loginError(message);
      const reused = /already been used/i.test(message);
      const backAtLogin = load.url.pathname === '/login' || outcome === 'loginForm';
      if (!reused && !/invalid verification code/i.test(message) && !backAtLogin) {
        throw contractMismatch('Octotel', `unexpected answer to the verification code: "${message.slice(0, 80)}"`, page);
      }
      await ctx.reportTotp?.('refused');
      ctx.logger.warn({ attempt: attempt + 1, refusal: reused ? 'reused' : 'invalid' }, 'Octotel refused a verification code');
      // Three refusals end the pre-auth: the portal sends the robot back to /login.
      if (attempt === TOTP_RETRIES || backAtLogin) {
        // A replayed step means another login took it: a later attempt gets a fresh step.
        throw new RpaError(
          reused ? 'TOTP_REUSED' : 'TOTP_REFUSED',
          `Octotel refused ${attempt + 1} verification code(s)${message ? ` (last answer: "${message.slice(0, 80)}")` : ''}`,
        );
      }
    }
    throw new RpaError('TOTP_REFUSED', 'Octotel refused the verification codes');
  }

  async isSessionLost(ctx: ProviderSessionContext): Promise<boolean> {
    return isLoginPath({ status: 200, url: new URL(ctx.page.url()) });
  }

  async validate(ctx: ProviderSessionContext, circuitNumber: string): Promise<ValidationResult> {
    const circuit = checkedCircuitNumber(this.descriptor, circuitNumber);
    return withPortalRetry(ctx, 'Octotel validation', () => this.read(ctx, circuit));
  }

  async cancel(ctx: ProviderSessionContext, params: CancellationParams): Promise<CancellationResult> {
    const request = cancellationRequest(this.descriptor, params);
    const circuit = request.circuitNumber;
    const { page } = ctx;
    const t = resolveTimeouts(ctx);
    return withPortalRetry(ctx, 'Octotel cancellation', async () => {
      // Read first, never submit blind: an already-cancelled circuit is answered from its page.
      const state = await this.read(ctx, circuit);
      const answered = await answerWithoutSubmitting(ctx, circuit, state);
      if (answered) return answered;

      this.expectSession(await openUrl(ctx, `/circuits/${encodeURIComponent(circuit)}/cancel`, 'the cancel page'));
      const form = page.locator('form#cancel-form');
      await form.waitFor({ state: 'visible', timeout: t.actionMs }).catch(() => {
        throw contractMismatch('Octotel', 'no form#cancel-form on the cancel page', page);
      });
      await form.locator('select#reason').selectOption(request.reason, { timeout: t.actionMs });
      await form.locator('input#effective-date').fill(request.effectiveDate, { timeout: t.actionMs });
      await form.locator('input#confirm').check({ timeout: t.actionMs });
      this.expectSession(await submitForm(ctx, form.locator('button#submit-cancel'), 'the Octotel cancel form'));

      const outcome = await firstVisible(
        {
          success: page.locator('div#cancel-success span#cancel-ref'),
          already: page.locator('div.alert-info span#cancel-ref'),
          error: page.locator('div.alert-error'),
        },
        t.actionMs,
      );
      if (outcome === 'success' || outcome === 'already') {
        const reference = await textOf(page.locator('span#cancel-ref'), t.actionMs);
        await ctx.captureEvidence(outcome === 'success' ? 'cancelled' : 'already-cancelled');
        return { found: true, circuit_number: circuit, cancelled: true, already_cancelled: outcome === 'already', reference };
      }
      if (outcome === 'error') {
        const message = await textOf(page.locator('div.alert-error'), t.actionMs);
        throw new RpaError('CANCELLATION_REFUSED', `Octotel refused the cancellation of ${circuit}: "${message.slice(0, 200)}"`);
      }
      throw contractMismatch('Octotel', 'no confirmation, notice or error after submitting the cancel form', page);
    });
  }

  async logout(ctx: ProviderSessionContext): Promise<void> {
    await withPortalRetry(ctx, 'Octotel logout', () => openUrl(ctx, '/logout', 'logout'));
  }

  /** Searches for the circuit and, when it is cancelled, opens its detail page for the reference. */
  private async read(ctx: ProviderSessionContext, circuit: string): Promise<ValidationResult> {
    const { page } = ctx;
    const t = resolveTimeouts(ctx);
    this.expectSession(await openUrl(ctx, `/circuits?q=${encodeURIComponent(circuit)}`, 'the circuit search'));
    const row = page.locator('table#results tbody tr.result-row');
    const outcome = await firstVisible(
      { row, none: page.locator('p#no-results'), invalid: page.locator('div.alert-error') },
      t.actionMs,
    );
    if (outcome === 'none') return { found: false, circuit_number: circuit };
    if (outcome === 'invalid') {
      throw invalidCircuit(this.descriptor, circuit, await textOf(page.locator('div.alert-error'), t.actionMs));
    }
    if (outcome !== 'row') throw contractMismatch('Octotel', 'no results table, "No circuits match" or error after a search', page);

    const match = row.filter({ has: page.locator('td.circuit', { hasText: circuit }) }).first();
    if ((await match.count()) === 0) throw contractMismatch('Octotel', `the results do not list ${circuit}`, page);
    const cell = (name: string) => textOf(match.locator(`td.${name}`), t.actionMs);
    const found = await readFoundCircuit('Octotel', circuit, cell);
    if (found.status === 'cancelled') {
      this.expectSession(await openUrl(ctx, `/circuits/${encodeURIComponent(circuit)}`, 'the circuit detail page'));
      const ref = page.locator('dl#circuit-detail dd#detail-cancel-ref');
      await ref.waitFor({ state: 'visible', timeout: t.actionMs }).catch(() => {
        throw contractMismatch('Octotel', `no dd#detail-cancel-ref for cancelled circuit ${circuit}`, page);
      });
      found.cancellation_reference = await textOf(ref, t.actionMs);
    }
    return found;
  }

  private expectSession(load: PageLoad): void {
    if (isLoginPath(load)) {
      throw new RpaError('SESSION_LOST', `Octotel session expired (sent to ${load.url.pathname}${load.url.search})`);
    }
    if (load.status >= 500) throw portalHiccup(`a page (${load.url.pathname})`, load.status);
  }
}

function isLoginPath(load: PageLoad): boolean {
  return load.url.pathname === '/login' || load.url.pathname === '/login/otp';
}

function loginError(message: string): RpaError {
  if (/too many active sessions/i.test(message)) {
    return new RpaError('TOO_MANY_SESSIONS', 'Octotel refused the login: "Too many active sessions"');
  }
  return new RpaError('LOGIN_REFUSED', `Octotel refused the login: "${message.slice(0, 120)}" (check the account's username and password)`);
}
