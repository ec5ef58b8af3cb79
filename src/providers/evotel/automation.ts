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
import { evotelDescriptor } from './descriptor.js';


/** Written into the cancellation ticket's comment box. */
const TICKET_COMMENT = 'Cancellation requested by the RPA orchestrator.';

/**
 * Evotel: two-step sign-in (username, then password), a service search whose type must be
 * `circuit`, and cancellations filed as tickets whose number is the reference.
 */
export class EvotelAutomation implements ProviderAutomation {
  constructor(readonly descriptor: ProviderDescriptor = evotelDescriptor) {}

  async login(ctx: ProviderSessionContext): Promise<void> {
    const { page } = ctx;
    const t = resolveTimeouts(ctx);
    await withPortalRetry(ctx, 'Evotel sign-in', async () => {
      await openUrl(ctx, '/account/login', 'the sign-in page');
      const userForm = page.locator('form#step-username');
      await userForm.waitFor({ state: 'visible', timeout: t.actionMs }).catch(() => {
        throw contractMismatch('Evotel', 'no form#step-username on the sign-in page', page);
      });
      await userForm.locator('input[name=username]').fill(ctx.credentials.login, { timeout: t.actionMs });
      await submitForm(ctx, userForm.locator('button#next'), 'the Evotel username step');
      const step = await firstVisible(
        { password: page.locator('form#step-password'), error: page.locator('div.validation-error') },
        t.actionMs,
      );
      if (step === 'error') throw refusal(await textOf(page.locator('div.validation-error'), t.actionMs), 'username');
      if (step !== 'password') throw contractMismatch('Evotel', 'neither the password step nor an error after the username step', page);

      const passwordForm = page.locator('form#step-password');
      await passwordForm.locator('input[name=password]').fill(ctx.credentials.password, { timeout: t.actionMs });
      await submitForm(ctx, passwordForm.locator('button#signin'), 'the Evotel password step', t.loginMs);
      const outcome = await firstVisible(
        { services: page.locator('form#service-search'), error: page.locator('div.validation-error') },
        t.actionMs,
      );
      if (outcome === 'services') return;
      if (outcome === 'error') throw refusal(await textOf(page.locator('div.validation-error'), t.actionMs), 'password');
      throw contractMismatch('Evotel', 'neither the services page nor an error after the password step', page);
    });
  }

  async isSessionLost(ctx: ProviderSessionContext): Promise<boolean> {
    return isSignInPath(new URL(ctx.page.url()));
  }

  async validate(ctx: ProviderSessionContext, circuitNumber: string): Promise<ValidationResult> {
    const circuit = checkedCircuitNumber(this.descriptor, circuitNumber);
    return withPortalRetry(ctx, 'Evotel validation', () => this.read(ctx, circuit));
  }

  async cancel(ctx: ProviderSessionContext, params: CancellationParams): Promise<CancellationResult> {
    const request = cancellationRequest(this.descriptor, params);
    const circuit = request.circuitNumber;
    const { page } = ctx;
    const t = resolveTimeouts(ctx);
    return withPortalRetry(ctx, 'Evotel cancellation', async () => {
      // Read first, never submit blind.
      const state = await this.read(ctx, circuit);
      const answered = await answerWithoutSubmitting(ctx, circuit, state);
      if (answered) return answered;

      this.expectSession(await openUrl(ctx, `/services/${encodeURIComponent(circuit)}/cancel`, 'the cancel page'));
      const form = page.locator('form#cancel-request');
      await form.waitFor({ state: 'visible', timeout: t.actionMs }).catch(() => {
        throw contractMismatch('Evotel', 'no form#cancel-request on the cancel page', page);
      });
      await form.locator('select[name=reason]').selectOption(request.reason, { timeout: t.actionMs });
      await form.locator('input[name=effective_date]').fill(request.effectiveDate, { timeout: t.actionMs });
      await form.locator('textarea[name=comment]').fill(TICKET_COMMENT, { timeout: t.actionMs });
      this.expectSession(await submitForm(ctx, form.locator('button#send'), 'the Evotel cancel form'));

      const outcome = await firstVisible(
        {
          success: page.locator('div#ticket span#ticket-number'),
          already: page.locator('div#ticket-exists span#ticket-number'),
          error: page.locator('div.validation-error'),
        },
        t.actionMs,
      );
      if (outcome === 'success' || outcome === 'already') {
        const box = outcome === 'success' ? 'div#ticket' : 'div#ticket-exists';
        const reference = await textOf(page.locator(`${box} span#ticket-number`), t.actionMs);
        await ctx.captureEvidence(outcome === 'success' ? 'cancelled' : 'already-cancelled');
        return { found: true, circuit_number: circuit, cancelled: true, already_cancelled: outcome === 'already', reference };
      }
      if (outcome === 'error') {
        const message = await textOf(page.locator('div.validation-error'), t.actionMs);
        throw new RpaError('CANCELLATION_REFUSED', `Evotel refused the cancellation of ${circuit}: "${message.slice(0, 200)}"`);
      }
      throw contractMismatch('Evotel', 'no ticket, existing ticket or error after submitting the cancel form', page);
    });
  }

  async logout(ctx: ProviderSessionContext): Promise<void> {
    await withPortalRetry(ctx, 'Evotel sign-out', () => openUrl(ctx, '/account/logout', 'sign-out'));
  }

  private async read(ctx: ProviderSessionContext, circuit: string): Promise<ValidationResult> {
    const { page } = ctx;
    const t = resolveTimeouts(ctx);
    // type=circuit: the portal's default search type is address, which never finds a circuit number.
    const query = new URLSearchParams({ type: 'circuit', query: circuit });
    this.expectSession(await openUrl(ctx, `/services?${query.toString()}`, 'the service search'));
    const item = page.locator(`div.service-item[data-circuit="${circuit}"]`);
    const outcome = await firstVisible(
      { item, empty: page.locator('div#empty'), invalid: page.locator('div.validation-error') },
      t.actionMs,
    );
    if (outcome === 'empty') return { found: false, circuit_number: circuit };
    if (outcome === 'invalid') throw invalidCircuit(this.descriptor, circuit, await textOf(page.locator('div.validation-error'), t.actionMs));
    if (outcome !== 'item') throw contractMismatch('Evotel', 'no service item, "No services found" or error after a search', page);

    const shown = item.first();
    const field = (name: string) => textOf(shown.locator(`div.field[data-name=${name}] span.value`), t.actionMs);
    const found = await readFoundCircuit('Evotel', circuit, field);
    if (found.status === 'cancelled') {
      const ref = shown.locator('span.ticket-ref');
      if ((await ref.count()) === 0) throw contractMismatch('Evotel', `no span.ticket-ref for cancelled circuit ${circuit}`, page);
      found.cancellation_reference = await textOf(ref, t.actionMs);
    }
    return found;
  }

  private expectSession(load: PageLoad): void {
    if (isSignInPath(load.url)) {
      throw new RpaError('SESSION_LOST', `Evotel session expired (sent to ${load.url.pathname}${load.url.search})`);
    }
    if (load.status >= 500) throw portalHiccup(`a page (${load.url.pathname})`, load.status);
  }
}

function isSignInPath(url: URL): boolean {
  return url.pathname === '/account/login' || url.pathname === '/account/password';
}

function refusal(message: string, step: 'username' | 'password'): RpaError {
  if (/too many active sessions/i.test(message)) {
    return new RpaError('TOO_MANY_SESSIONS', 'Evotel refused the sign-in: "Too many active sessions"');
  }
  return new RpaError('LOGIN_REFUSED', `Evotel refused the sign-in at the ${step} step: "${message.slice(0, 120)}" (check the account's username and password)`);
}
