import type { Locator } from 'playwright-core';
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
import { openserveDescriptor } from './descriptor.js';


interface CardRead {
  result: ValidationResult;
  card?: Locator;
}

/**
 * Openserve: a client-rendered single page. Every search starts from a fresh load of `/app`,
 * so the only outcome element on the page is the one this search rendered.
 */
export class OpenserveAutomation implements ProviderAutomation {
  constructor(readonly descriptor: ProviderDescriptor = openserveDescriptor) {}

  async login(ctx: ProviderSessionContext): Promise<void> {
    await withPortalRetry(ctx, 'Openserve sign-in', async () => {
      const { page } = ctx;
      const t = resolveTimeouts(ctx);
      await openUrl(ctx, '/signin', 'the sign-in page');
      const form = page.locator('form[data-testid=signin-form]');
      await form.waitFor({ state: 'visible', timeout: t.actionMs }).catch(() => {
        throw contractMismatch('Openserve', 'no form[data-testid=signin-form] on the sign-in page', page);
      });
      await form.locator('input[name=email]').fill(ctx.credentials.login, { timeout: t.actionMs });
      await form.locator('input[name=password]').fill(ctx.credentials.password, { timeout: t.actionMs });
      const load = await submitForm(ctx, form.locator('button[type=submit]'), 'the Openserve sign-in form', t.loginMs);
      // Signed in means sent to /app; its script renders later and each search reloads it anyway.
      if (load.url.pathname === '/app' && load.status < 400) return;
      const outcome = await firstVisible(
        { app: page.locator('input[data-testid=search-input]'), error: page.locator('[data-testid=signin-error]') },
        t.actionMs,
      );
      if (outcome === 'app') return;
      if (outcome === 'error') {
        const message = await textOf(page.locator('[data-testid=signin-error]'), t.actionMs);
        if (/too many active sessions/i.test(message)) {
          throw new RpaError('TOO_MANY_SESSIONS', 'Openserve refused the sign-in: "Too many active sessions"');
        }
        throw new RpaError('LOGIN_REFUSED', `Openserve refused the sign-in: "${message.slice(0, 120)}" (check the account's e-mail and password)`);
      }
      throw contractMismatch('Openserve', 'neither the app nor a sign-in error after signing in', page);
    });
  }

  async isSessionLost(ctx: ProviderSessionContext): Promise<boolean> {
    if (new URL(ctx.page.url()).pathname === '/signin') return true;
    return ctx.page.locator('div[data-testid=session-expired]').first().isVisible();
  }

  async validate(ctx: ProviderSessionContext, circuitNumber: string): Promise<ValidationResult> {
    const circuit = checkedCircuitNumber(this.descriptor, circuitNumber);
    return withPortalRetry(ctx, 'Openserve validation', async () => (await this.search(ctx, circuit)).result);
  }

  async cancel(ctx: ProviderSessionContext, params: CancellationParams): Promise<CancellationResult> {
    const request = cancellationRequest(this.descriptor, params);
    const circuit = request.circuitNumber;
    const { page } = ctx;
    const t = resolveTimeouts(ctx);
    return withPortalRetry(ctx, 'Openserve cancellation', async () => {
      // Read first, never submit blind.
      const { result: state, card } = await this.search(ctx, circuit);
      const answered = await answerWithoutSubmitting(ctx, circuit, state);
      if (answered) return answered;

      const cancelButton = card!.locator('button[data-testid=cancel-button]');
      await cancelButton.click({ timeout: t.actionMs }).catch(() => {
        throw contractMismatch('Openserve', `no cancel button on the card of circuit ${circuit}, which is still cancellable`, page);
      });
      const dialog = page.locator('div[role=dialog][data-testid=cancel-dialog]');
      await dialog.waitFor({ state: 'visible', timeout: t.actionMs }).catch(() => {
        throw contractMismatch('Openserve', 'the cancel dialog did not open', page);
      });
      await dialog.locator('select[name=reason]').selectOption(request.reason, { timeout: t.actionMs });
      await dialog.locator('input[name=effectiveDate]').fill(request.effectiveDate, { timeout: t.actionMs });
      const apiPath = `/api/circuits/${encodeURIComponent(circuit)}/cancel`;
      const [response] = await Promise.all([
        page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === apiPath, {
          timeout: t.navigationMs,
        }),
        dialog.locator('button[data-testid=confirm-cancel]').click({ timeout: t.actionMs }),
      ]).catch((thrown) => {
        throw new RpaError('PORTAL_UNAVAILABLE', `Openserve did not answer the cancellation of ${circuit} in time`, { cause: thrown });
      });

      const status = response.status();
      const toast = page.locator('div[data-testid=toast]');
      if (status === 200 || status === 409) {
        const prefix = status === 200 ? 'Cancellation submitted:' : 'Circuit already cancelled:';
        const shown = toast.filter({ hasText: prefix }).first();
        await shown.waitFor({ state: 'visible', timeout: t.actionMs }).catch(() => {
          throw contractMismatch('Openserve', `no "${prefix}" toast after the API answered ${status}`, page);
        });
        const reference = referenceIn(await textOf(shown, t.actionMs), prefix);
        if (!reference) throw contractMismatch('Openserve', `no reference in the "${prefix}" toast`, page);
        await ctx.captureEvidence(status === 200 ? 'cancelled' : 'already-cancelled');
        return { found: true, circuit_number: circuit, cancelled: true, already_cancelled: status === 409, reference };
      }
      if (status === 401) throw new RpaError('SESSION_LOST', 'Openserve session expired during the cancellation');
      if (status >= 500) throw portalHiccup('the cancellation request', status);
      const body = (await response.json().catch(() => ({}))) as { error?: string; message?: string };
      const why = String(body.message ?? body.error ?? `HTTP ${status}`).slice(0, 200);
      throw new RpaError('CANCELLATION_REFUSED', `Openserve refused the cancellation of ${circuit}: "${why}"`);
    });
  }

  async logout(ctx: ProviderSessionContext): Promise<void> {
    const t = resolveTimeouts(ctx);
    await withPortalRetry(ctx, 'Openserve sign-out', async () => {
      const response = await ctx.page.request.post(`${ctx.baseUrl}/signout`, { timeout: t.navigationMs, maxRedirects: 0 });
      if (response.status() === 503) throw portalHiccup('the sign-out');
    });
  }

  /** Loads `/app`, searches, and reads whichever outcome the page renders. */
  private async search(ctx: ProviderSessionContext, circuit: string): Promise<CardRead> {
    const { page } = ctx;
    const t = resolveTimeouts(ctx);
    this.expectSession(await openUrl(ctx, '/app', 'the app'));
    const input = page.locator('input[data-testid=search-input]');
    await input.fill(circuit, { timeout: t.actionMs }).catch(() => {
      throw contractMismatch('Openserve', 'no search input in the app', page);
    });
    await page.locator('button[data-testid=search-button]').click({ timeout: t.actionMs });

    const card = page
      .locator('div[data-testid=circuit-card]')
      .filter({ has: page.locator('span[data-field=circuit]', { hasText: circuit }) });
    const errorBox = page.locator('div[data-testid=search-error]');
    const outcome = await firstVisible(
      {
        card,
        notFound: page.locator('div[data-testid=not-found]'),
        error: errorBox,
        expired: page.locator('div[data-testid=session-expired]'),
      },
      t.navigationMs,
    );
    if (outcome === 'notFound') return { result: { found: false, circuit_number: circuit } };
    if (outcome === 'expired') throw new RpaError('SESSION_LOST', 'Openserve session expired (the search answered 401)');
    if (outcome === 'error') {
      const status = Number(await errorBox.first().getAttribute('data-status', { timeout: t.actionMs }));
      const message = await textOf(errorBox, t.actionMs);
      if (status === 400) throw invalidCircuit(this.descriptor, circuit, message);
      if (status === 401) throw new RpaError('SESSION_LOST', 'Openserve session expired (the search answered 401)');
      if (status === 404) return { result: { found: false, circuit_number: circuit } };
      if (!status || status >= 500) throw portalHiccup('the circuit search', status || 0);
      throw contractMismatch('Openserve', `the search failed with status ${status}: "${message.slice(0, 80)}"`, page);
    }
    if (outcome !== 'card') throw contractMismatch('Openserve', 'the search rendered no card, not-found, error or session-expired', page);

    const shown = card.first();
    const field = (name: string) => textOf(shown.locator(`span[data-field=${name}]`), t.actionMs);
    const found = await readFoundCircuit('Openserve', circuit, field);
    if (found.status === 'cancelled') {
      const ref = shown.locator('span[data-field=reference]');
      if ((await ref.count()) === 0) throw contractMismatch('Openserve', `no reference on the card of cancelled circuit ${circuit}`, page);
      found.cancellation_reference = await textOf(ref, t.actionMs);
    }
    return { result: found, card: shown };
  }

  private expectSession(load: PageLoad): void {
    if (load.url.pathname === '/signin') {
      throw new RpaError('SESSION_LOST', `Openserve session expired (sent to ${load.url.pathname}${load.url.search})`);
    }
    if (load.status >= 500) throw portalHiccup(`a page (${load.url.pathname})`, load.status);
  }
}

function referenceIn(text: string, prefix: string): string | undefined {
  const at = text.indexOf(prefix);
  if (at < 0) return undefined;
  const rest = text.slice(at + prefix.length).trim();
  return /^\S+/.exec(rest)?.[0];
}
