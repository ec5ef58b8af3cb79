import { errors, type Locator } from 'playwright-core';
import { RpaError } from '../../errors/failures.js';
import { invalidCircuit } from '../circuit-number.js';
import { normaliseStatus } from '../circuit-status.js';
import { firstVisible, locatorOf, textOf } from '../portal-page.js';
import { portalHiccup } from '../portal-retry.js';
import type { ProviderDescriptor, ProviderSessionContext, ValidationResult } from '../provider.js';
import { resolveTimeouts } from '../provider-timeouts.js';
import { anyOf, pathFor, selectorFor } from './map-templates.js';
import type { SearchMap } from './portal-map.js';
import type { PortalNavigation } from './portal-navigation.js';

/** A circuit as the search showed it, and (when found) the result element it was read from. */
export interface CircuitRead {
  state: ValidationResult;
  result?: Locator;
}

/**
 * How long a field of a result already shown may take to be there: a server-rendered row and a
 * client-rendered card come with their fields, so a missing one is a page that changed.
 */
const FIELD_WAIT_MS = 1_000;

/**
 * The trimmed, whitespace-collapsed text of the first match, or null when there is none. Only the
 * wait for a missing field is bounded by FIELD_WAIT_MS: a field that is there is read however long
 * a busy browser takes to answer (under load, a 1 s limit on the read itself timed out on fields
 * that were there, and three such reads paused a provider for contract drift).
 */
async function shownText(locator: Locator, readTimeoutMs: number): Promise<string | null> {
  const first = locator.first();
  if ((await locator.count()) === 0) {
    try {
      await first.waitFor({ state: 'attached', timeout: FIELD_WAIT_MS });
    } catch (thrown) {
      if (!(thrown instanceof errors.TimeoutError)) throw thrown;
      // The limit may have passed while the browser was too busy to look: the page has the last word.
      if ((await locator.count()) === 0) return null;
    }
  }
  return ((await first.textContent({ timeout: readTimeoutMs })) ?? '').replace(/\s+/g, ' ').trim();
}

/** Searches a circuit and reads what the portal shows of it (SPEC.md "What a job returns"). */
export class CircuitReader {
  constructor(
    private readonly descriptor: ProviderDescriptor,
    private readonly map: SearchMap,
    private readonly nav: PortalNavigation,
  ) {}

  async read(ctx: ProviderSessionContext, circuit: string): Promise<CircuitRead> {
    const { page } = ctx;
    const t = resolveTimeouts(ctx);
    const s = this.map;
    await this.startSearch(ctx, circuit);
    const resultSelector = selectorFor(s.result, circuit);
    const results = page.locator(resultSelector);
    const outcomes = {
      result: results,
      notFound: page.locator(s.notFound),
      invalid: locatorOf(page, s.invalid?.selector),
      failed: locatorOf(page, s.failed?.selector),
      expired: locatorOf(page, s.sessionExpired),
    };
    // The page's own signals: a server-rendered answer is there on load, a client-rendered one
    // once the app's script has fetched and rendered it.
    const outcome = await firstVisible(outcomes, s.rendering === 'client' ? t.navigationMs : t.actionMs);
    const missing = { found: false as const, circuit_number: circuit };
    switch (outcome) {
      case 'notFound':
        return { state: missing };
      case 'expired':
        throw new RpaError('SESSION_LOST', `${this.descriptor.label} session expired (the search showed ${s.sessionExpired})`);
      case 'invalid': {
        const message = await textOf(outcomes.invalid!, t.actionMs);
        if (s.invalid!.text && !s.invalid!.text.test(message)) {
          throw await this.nav.tools.mismatch(ctx, `the search answered "${message.slice(0, 80)}"`, s.invalid!.selector);
        }
        throw invalidCircuit(this.descriptor, circuit, message);
      }
      case 'failed':
        return { state: await this.failedSearch(ctx, circuit, outcomes.failed!) };
      case 'result':
        return this.readResult(ctx, circuit, resultSelector, results);
      default:
        throw await this.nav.tools.mismatch(
          ctx,
          'no result, "not found" or error after a search',
          anyOf(resultSelector, s.notFound, s.invalid?.selector, s.failed?.selector, s.sessionExpired),
        );
    }
  }

  private async startSearch(ctx: ProviderSessionContext, circuit: string): Promise<void> {
    const open = this.map.open;
    if ('path' in open) {
      await this.nav.open(ctx, pathFor(open.path, circuit), 'the circuit search');
      return;
    }
    const t = resolveTimeouts(ctx);
    await this.nav.open(ctx, open.page, 'the search page');
    await ctx.page.locator(open.input).fill(circuit, { timeout: t.actionMs }).catch(async () => {
      throw await this.nav.tools.mismatch(ctx, 'no search box', open.input);
    });
    await ctx.page.locator(open.button).click({ timeout: t.actionMs }).catch(async () => {
      throw await this.nav.tools.mismatch(ctx, 'no search button', open.button);
    });
  }

  /** A search the page reports as failed, by the HTTP status it carries. */
  private async failedSearch(ctx: ProviderSessionContext, circuit: string, box: Locator): Promise<ValidationResult> {
    const t = resolveTimeouts(ctx);
    const failed = this.map.failed!;
    const status = Number(await box.first().getAttribute(failed.statusAttribute, { timeout: t.actionMs }));
    const message = await textOf(box, t.actionMs);
    if (status === 400) throw invalidCircuit(this.descriptor, circuit, message);
    if (status === 401) throw new RpaError('SESSION_LOST', `${this.descriptor.label} session expired (the search answered 401)`);
    if (status === 404) return { found: false, circuit_number: circuit };
    if (!status || status >= 500) throw portalHiccup('the circuit search', status || 0);
    throw await this.nav.tools.mismatch(ctx, `the search failed with status ${status}: "${message.slice(0, 80)}"`, failed.selector);
  }

  /**
   * Reads the result's fields one locator call each, then the reference of a cancelled circuit.
   * Measured (bench/result-read.ts, docs/bench-result-read.md), this is faster than one
   * `evaluateAll` over the row, locally and over the pool's WebSocket proxy alike: a locator
   * call runs in the utility world, whose injected script the wait for the result has installed
   * already, while an evaluation runs in the page's main world, where Playwright installs its
   * script again for every document (every search is a new one).
   */
  private async readResult(ctx: ProviderSessionContext, circuit: string, resultSelector: string, results: Locator): Promise<CircuitRead> {
    const s = this.map;
    const t = resolveTimeouts(ctx);
    let index = 0;
    if (s.fields.circuit !== undefined) {
      const rows = await results.count();
      index = -1;
      for (let i = 0; i < rows && index < 0; i++) if ((await shownText(results.nth(i).locator(s.fields.circuit), t.actionMs)) === circuit) index = i;
      if (index < 0) throw await this.nav.tools.mismatch(ctx, `the results do not list ${circuit}`, `${resultSelector} ${s.fields.circuit}`);
    }
    const result = results.nth(index);
    const field = async (name: 'status' | 'customer' | 'address' | 'speed'): Promise<string> => {
      const value = await shownText(result.locator(s.fields[name]), t.actionMs);
      if (value === null) throw await this.nav.tools.mismatch(ctx, `no ${name} in the result for ${circuit}`, `${resultSelector} ${s.fields[name]}`);
      return value;
    };
    const shownStatus = await field('status');
    const status = normaliseStatus(shownStatus);
    if (!status) throw await this.nav.tools.mismatch(ctx, `unknown circuit status "${shownStatus.slice(0, 40)}"`, `${resultSelector} ${s.fields.status}`);
    const state: ValidationResult = {
      found: true,
      circuit_number: circuit,
      status,
      customer: await field('customer'),
      address: await field('address'),
      speed: await field('speed'),
      cancellation_reference: null,
    };
    if (status === 'cancelled') {
      const inResult = 'inResult' in s.reference ? await shownText(result.locator(s.reference.inResult), t.actionMs) : null;
      state.cancellation_reference = await this.reference(ctx, circuit, resultSelector, inResult);
    }
    return { state, result };
  }

  private async reference(ctx: ProviderSessionContext, circuit: string, resultSelector: string, inResult: string | null): Promise<string> {
    const where = this.map.reference;
    if ('inResult' in where) {
      if (!inResult) throw await this.nav.tools.mismatch(ctx, `no reference shown for cancelled circuit ${circuit}`, `${resultSelector} ${where.inResult}`);
      return inResult;
    }
    const t = resolveTimeouts(ctx);
    await this.nav.open(ctx, pathFor(where.page, circuit), 'the circuit page');
    const shown = ctx.page.locator(where.selector);
    await shown.first().waitFor({ state: 'visible', timeout: t.actionMs }).catch(async () => {
      throw await this.nav.tools.mismatch(ctx, `no reference shown for cancelled circuit ${circuit}`, where.selector);
    });
    return textOf(shown, t.actionMs);
  }
}
