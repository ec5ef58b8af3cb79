import { RpaError } from '../../errors/failures.js';
import { answerWithoutSubmitting } from '../cancellation-precheck.js';
import { cancellationRequest, toDayMonthYear } from '../cancellation-request.js';
import { readFoundCircuit, type CircuitField } from '../found-circuit.js';
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
import { metrofiberDescriptor } from './descriptor.js';


/** Times the robot acknowledges the notice, or re-fetches a form whose token was refused, within one step. */
/** Cells of a data-grid row, in the order the contract fixes: Circuit, Status, Customer, Address, Speed, Action. */
const COLUMNS: Record<CircuitField, number> = { status: 1, customer: 2, address: 3, speed: 4 };
const DETOURS = 3;

function pageParam(load: PageLoad): string | null {
  return load.url.searchParams.get('page');
}

/**
 * MetroFiber: legacy PHP-style forms. Every POST form carries a page-bound `csrf_token`; the
 * robot always submits the form the portal served, so the token is the portal's own. After
 * the first login since a restart the portal detours every page to a notice, which the robot
 * acknowledges wherever it meets it.
 */
export class MetroFiberAutomation implements ProviderAutomation {
  constructor(readonly descriptor: ProviderDescriptor = metrofiberDescriptor) {}

  async login(ctx: ProviderSessionContext): Promise<void> {
    const { page } = ctx;
    const t = resolveTimeouts(ctx);
    await withPortalRetry(ctx, 'MetroFiber login', async () => {
      for (let detour = 0; detour < DETOURS; detour++) {
        await openUrl(ctx, '/index.php?page=login', 'the login page');
        const form = page.locator('form[name=loginForm]');
        await form.waitFor({ state: 'visible', timeout: t.actionMs }).catch(() => {
          throw contractMismatch('MetroFiber', 'no form[name=loginForm] on the login page', page);
        });
        await form.locator('input[name=email]').fill(ctx.credentials.login, { timeout: t.actionMs });
        await form.locator('input[name=password]').fill(ctx.credentials.password, { timeout: t.actionMs });
        const load = await submitForm(ctx, form.locator('input[type=submit][value=Login]'), 'the MetroFiber login form', t.loginMs);
        if (pageParam(load) === 'notice' || (await page.locator('form#noticeForm').first().isVisible())) {
          await this.acknowledgeNotice(ctx);
          return;
        }
        const error = page.locator('div.error');
        const refused = await error.first().isVisible();
        if (!refused && load.status < 400 && (pageParam(load) !== 'login' || !(await form.first().isVisible()))) return;

        const message = refused ? await textOf(error, t.actionMs) : '';
        if (/invalid request token/i.test(message)) continue;
        if (/too many active sessions/i.test(message)) {
          throw new RpaError('TOO_MANY_SESSIONS', 'MetroFiber refused the login: "Too many active sessions"');
        }
        if (message) {
          throw new RpaError('LOGIN_REFUSED', `MetroFiber refused the login: "${message.slice(0, 120)}" (check the account's e-mail and password)`);
        }
        throw contractMismatch('MetroFiber', `the login form answered ${load.status} without an error message`, page);
      }
      throw contractMismatch('MetroFiber', 'the login form token was refused repeatedly', page);
    });
  }

  async isSessionLost(ctx: ProviderSessionContext): Promise<boolean> {
    const url = new URL(ctx.page.url());
    return url.pathname === '/index.php' && url.searchParams.get('page') === 'login';
  }

  async validate(ctx: ProviderSessionContext, circuitNumber: string): Promise<ValidationResult> {
    const circuit = checkedCircuitNumber(this.descriptor, circuitNumber);
    return withPortalRetry(ctx, 'MetroFiber validation', () => this.read(ctx, circuit));
  }

  async cancel(ctx: ProviderSessionContext, params: CancellationParams): Promise<CancellationResult> {
    const request = cancellationRequest(this.descriptor, params);
    const circuit = request.circuitNumber;
    const { page } = ctx;
    const t = resolveTimeouts(ctx);
    const cancelPath = `/index.php?page=cancel&circuit=${encodeURIComponent(circuit)}`;
    return withPortalRetry(ctx, 'MetroFiber cancellation', async () => {
      for (let detour = 0; detour < DETOURS; detour++) {
        // Read first, never submit blind; read again after any detour.
        const state = await this.read(ctx, circuit);
        const answered = await answerWithoutSubmitting(ctx, circuit, state);
        if (answered) return answered;

        await this.open(ctx, cancelPath, 'the cancel page');
        const form = page.locator('form#cancelForm');
        await form.waitFor({ state: 'visible', timeout: t.actionMs }).catch(() => {
          throw contractMismatch('MetroFiber', 'no form#cancelForm on the cancel page', page);
        });
        await form.locator('select[name=reason]').selectOption(request.reason, { timeout: t.actionMs });
        await form.locator('input[name=effective_date]').fill(toDayMonthYear(request.effectiveDate), { timeout: t.actionMs });
        await form.locator('input[name=confirm_text]').fill(circuit, { timeout: t.actionMs });
        const load = await submitForm(ctx, form.locator('input[type=submit][name=submit_cancel]'), 'the MetroFiber cancel form');
        this.expectSession(load);
        if (pageParam(load) === 'notice') {
          await this.acknowledgeNotice(ctx);
          continue;
        }

        const outcome = await firstVisible(
          {
            success: page.locator('div.success span.ref'),
            already: page.locator('div.warning span.ref'),
            error: page.locator('div.error'),
          },
          t.actionMs,
        );
        if (outcome === 'success' || outcome === 'already') {
          const box = outcome === 'success' ? 'div.success' : 'div.warning';
          const reference = await textOf(page.locator(`${box} span.ref`), t.actionMs);
          await ctx.captureEvidence(outcome === 'success' ? 'cancelled' : 'already-cancelled');
          return { found: true, circuit_number: circuit, cancelled: true, already_cancelled: outcome === 'already', reference };
        }
        if (outcome === 'error') {
          const message = await textOf(page.locator('div.error'), t.actionMs);
          if (/invalid request token/i.test(message)) {
            ctx.logger.warn('MetroFiber refused the cancel form token; fetching the form again');
            continue;
          }
          throw new RpaError('CANCELLATION_REFUSED', `MetroFiber refused the cancellation of ${circuit}: "${message.slice(0, 200)}"`);
        }
        throw contractMismatch('MetroFiber', 'no success, warning or error after submitting the cancel form', page);
      }
      throw contractMismatch('MetroFiber', 'the cancel form kept being detoured or its token refused', page);
    });
  }

  async logout(ctx: ProviderSessionContext): Promise<void> {
    await withPortalRetry(ctx, 'MetroFiber logout', () => openUrl(ctx, '/index.php?page=logout', 'logout'));
  }

  private async read(ctx: ProviderSessionContext, circuit: string): Promise<ValidationResult> {
    const { page } = ctx;
    const t = resolveTimeouts(ctx);
    await this.open(ctx, `/index.php?page=search&circuit=${encodeURIComponent(circuit)}`, 'the circuit search');
    const rows = page.locator('table.data-grid tr.data-row');
    const outcome = await firstVisible(
      { row: rows, none: page.locator('td.no-data'), error: page.locator('div.error') },
      t.actionMs,
    );
    if (outcome === 'none') return { found: false, circuit_number: circuit };
    if (outcome === 'error') {
      const message = await textOf(page.locator('div.error'), t.actionMs);
      if (/invalid circuit number/i.test(message)) throw invalidCircuit(this.descriptor, circuit, message);
      throw contractMismatch('MetroFiber', `the search answered "${message.slice(0, 80)}"`, page);
    }
    if (outcome !== 'row') throw contractMismatch('MetroFiber', 'no data grid, "No records found" or error after a search', page);

    const row = rows.filter({ has: page.locator('td:first-child', { hasText: circuit }) }).first();
    if ((await row.count()) === 0) throw contractMismatch('MetroFiber', `the data grid does not list ${circuit}`, page);
    const cells = row.locator('td');
    const cell = (index: number) => textOf(cells.nth(index), t.actionMs);
    const found = await readFoundCircuit('MetroFiber', circuit, (field) => cell(COLUMNS[field]));
    if (found.status === 'cancelled') {
      const ref = row.locator('span.ref');
      if ((await ref.count()) === 0) throw contractMismatch('MetroFiber', `no span.ref for cancelled circuit ${circuit}`, page);
      found.cancellation_reference = await textOf(ref, t.actionMs);
    }
    return found;
  }

  /** Loads a signed-in page, acknowledging the notice if the portal detours there first. */
  private async open(ctx: ProviderSessionContext, path: string, what: string): Promise<PageLoad> {
    for (let detour = 0; detour < DETOURS; detour++) {
      const load = await openUrl(ctx, path, what);
      this.expectSession(load);
      if (pageParam(load) !== 'notice') return load;
      await this.acknowledgeNotice(ctx);
    }
    throw contractMismatch('MetroFiber', `the notice kept coming back while loading ${what}`, ctx.page);
  }

  private async acknowledgeNotice(ctx: ProviderSessionContext): Promise<void> {
    const { page } = ctx;
    const t = resolveTimeouts(ctx);
    const form = page.locator('form#noticeForm');
    await form.waitFor({ state: 'visible', timeout: t.actionMs }).catch(() => {
      throw contractMismatch('MetroFiber', 'no form#noticeForm on the notice page', page);
    });
    ctx.logger.info('acknowledging the MetroFiber notice');
    const load = await submitForm(ctx, form.locator('button#acknowledge'), 'the MetroFiber notice');
    this.expectSession(load);
    if (load.status >= 400) {
      const message = await textOf(page.locator('div.error'), t.actionMs).catch(() => '');
      // Another session acknowledged first, or the token aged: either way the caller reloads.
      ctx.logger.warn({ status: load.status, message: message.slice(0, 80) }, 'MetroFiber notice acknowledgement refused');
    }
  }

  private expectSession(load: PageLoad): void {
    if (load.url.pathname === '/index.php' && pageParam(load) === 'login') {
      throw new RpaError('SESSION_LOST', `MetroFiber session expired (sent to ${load.url.pathname}${load.url.search})`);
    }
    if (load.status >= 500) throw portalHiccup(`a page (${load.url.search})`, load.status);
  }
}
