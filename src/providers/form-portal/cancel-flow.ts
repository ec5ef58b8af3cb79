import type { Locator } from 'playwright-core';
import { RpaError, isRpaError } from '../../errors/failures.js';
import { toDayMonthYear, type CancellationRequest } from '../cancellation-request.js';
import { firstVisible, submitForm, textOf, type PageLoad } from '../portal-page.js';
import { portalHiccup, withPortalRetry } from '../portal-retry.js';
import type { CancellationResult, ProviderDescriptor, ProviderSessionContext, ValidationResult } from '../provider.js';
import { resolveTimeouts } from '../provider-timeouts.js';
import type { CircuitReader } from './circuit-reader.js';
import { anyOf, pathFor } from './map-templates.js';
import type { CancelAnswer, CancelMap, PortalHooks } from './portal-map.js';
import type { PortalNavigation } from './portal-navigation.js';

/** Rounds of one attempt (a detour or a refused token sends the flow back to the read). */
const ROUNDS = 3;

/**
 * Circuits whose last submission lost its answer, per job context: kept across the retries of
 * the step and across a re-login (ProviderSession runs the step again with the same context),
 * so a read that then finds the circuit cancelled knows this job's submission did it.
 */
const unclearSubmits = new WeakMap<ProviderSessionContext, Set<string>>();

function unclear(ctx: ProviderSessionContext): Set<string> {
  let circuits = unclearSubmits.get(ctx);
  if (!circuits) unclearSubmits.set(ctx, (circuits = new Set()));
  return circuits;
}

/** A lost answer: the submission may or may not have been carried out. */
function isLostAnswer(thrown: unknown): thrown is RpaError {
  return isRpaError(thrown, 'PORTAL_HICCUP') || isRpaError(thrown, 'PORTAL_UNAVAILABLE');
}

/**
 * A cancellation on a form portal. Read first, never submit blind: the circuit is read before
 * every submission, an already-cancelled one is answered from the page. When a submission's
 * answer is lost the step is not run again blindly: the circuit is read (with the page retry)
 * until the outcome is certain, and only a circuit still cancellable is submitted again.
 */
export class CancelFlow {
  constructor(
    private readonly descriptor: ProviderDescriptor,
    private readonly map: CancelMap,
    private readonly hooks: PortalHooks,
    private readonly nav: PortalNavigation,
    private readonly reader: CircuitReader,
  ) {}

  async cancel(ctx: ProviderSessionContext, request: CancellationRequest): Promise<CancellationResult> {
    return withPortalRetry(ctx, `${this.descriptor.label} cancellation`, () => this.attempt(ctx, request));
  }

  /** Opens the cancel form of a cancellable circuit (its page, or the control in its result). */
  async openForm(ctx: ProviderSessionContext, circuit: string, result: Locator | undefined): Promise<Locator> {
    const t = resolveTimeouts(ctx);
    const open = this.map.open;
    if ('path' in open) {
      await this.nav.open(ctx, pathFor(open.path, circuit), 'the cancel page');
    } else {
      const control = (result ?? ctx.page).locator(open.clickInResult);
      await control.click({ timeout: t.actionMs }).catch(async () => {
        throw await this.nav.tools.mismatch(ctx, `no cancel control in the result of ${circuit}, which is still cancellable`, open.clickInResult);
      });
    }
    const form = ctx.page.locator(this.map.form);
    await form.first().waitFor({ state: 'visible', timeout: t.actionMs }).catch(async () => {
      throw await this.nav.tools.mismatch(ctx, 'no cancel form', this.map.form);
    });
    return form.first();
  }

  /** Checks that every field of the form is there, filling nothing (the contract canary). */
  async checkForm(ctx: ProviderSessionContext, form: Locator): Promise<void> {
    const c = this.map;
    const fields = [c.reason, c.effectiveDate.selector, ...(c.tick ?? []), ...(c.repeatCircuit ?? []), ...Object.keys(c.text ?? {}), c.submit];
    for (const selector of fields) {
      if ((await form.locator(selector).count()) === 0) throw await this.nav.tools.mismatch(ctx, `no ${selector} in the cancel form`, `${c.form} ${selector}`);
    }
  }

  private async attempt(ctx: ProviderSessionContext, request: CancellationRequest): Promise<CancellationResult> {
    const circuit = request.circuitNumber;
    for (let round = 0; round < ROUNDS; round++) {
      const { state, result } = await this.reader.read(ctx, circuit);
      const settled = await this.settledByRead(ctx, circuit, state);
      if (settled) return settled;

      const form = await this.openForm(ctx, circuit, result);
      await this.fill(ctx, form, request);
      await ctx.captureEvidence('filled-form');
      // The caller's last word (its fencing may throw): nothing has been submitted yet.
      if ((await ctx.beforeSubmit?.(circuit)) === 'dry-run') {
        return { found: true, circuit_number: circuit, cancelled: false, already_cancelled: false, reference: null, dry_run: true };
      }
      const answered = await this.submit(ctx, circuit, form);
      if (answered) return answered;
    }
    throw new RpaError('PAGE_CONTRACT_MISMATCH', `${this.descriptor.label}: the cancel form of ${circuit} kept being detoured or its token refused`);
  }

  /** What the read alone answers: not found, or cancelled (before this job, or by its lost submission). */
  private async settledByRead(ctx: ProviderSessionContext, circuit: string, state: ValidationResult): Promise<CancellationResult | undefined> {
    const pending = unclear(ctx);
    if (!state.found) {
      pending.delete(circuit);
      // Evidence that there was nothing to cancel: the portal's answer to the search.
      await ctx.captureEvidence('not-found');
      return { found: false, circuit_number: circuit, cancelled: false, already_cancelled: false, reference: null };
    }
    if (state.status !== 'cancelled') return undefined;
    const reference = state.cancellation_reference;
    if (pending.delete(circuit)) {
      await ctx.captureEvidence('confirmation');
      await ctx.afterSubmit?.('resolved-by-read', reference);
      return { found: true, circuit_number: circuit, cancelled: true, already_cancelled: false, reference };
    }
    await ctx.captureEvidence('already-cancelled');
    return { found: true, circuit_number: circuit, cancelled: true, already_cancelled: true, reference };
  }

  private async fill(ctx: ProviderSessionContext, form: Locator, request: CancellationRequest): Promise<void> {
    const t = resolveTimeouts(ctx);
    const c = this.map;
    const date = c.effectiveDate.format === 'DD/MM/YYYY' ? toDayMonthYear(request.effectiveDate) : request.effectiveDate;
    type Setter = [selector: string, set: (field: Locator) => Promise<unknown>];
    const typed = (value: string) => (field: Locator) => field.fill(value, { timeout: t.actionMs });
    const fields: Setter[] = [
      [c.reason, (field) => field.selectOption(request.reason, { timeout: t.actionMs })],
      [c.effectiveDate.selector, typed(date)],
      ...(c.tick ?? []).map((selector): Setter => [selector, (field) => field.check({ timeout: t.actionMs })]),
      ...(c.repeatCircuit ?? []).map((selector): Setter => [selector, typed(request.circuitNumber)]),
      ...Object.entries(c.text ?? {}).map(([selector, text]): Setter => [selector, typed(text)]),
    ];
    for (const [selector, set] of fields) {
      await set(form.locator(selector)).catch(async () => {
        throw await this.nav.tools.mismatch(ctx, `could not fill ${selector} in the cancel form`, `${c.form} ${selector}`);
      });
    }
  }

  /** Submits the filled form and reads the answer; undefined when the flow must read again (a detour, a stale token). */
  private async submit(ctx: ProviderSessionContext, circuit: string, form: Locator): Promise<CancellationResult | undefined> {
    const t = resolveTimeouts(ctx);
    const c = this.map;
    let load: PageLoad | undefined;
    try {
      const button = form.locator(c.submit);
      load = this.hooks.submitCancel
        ? await this.hooks.submitCancel(ctx, circuit, button, this.nav.tools)
        : await submitForm(ctx, button, `the ${this.descriptor.label} cancel form`);
    } catch (thrown) {
      if (!isLostAnswer(thrown)) throw thrown;
      unclear(ctx).add(circuit);
      ctx.logger.warn({ circuit, err: thrown.message }, 'the answer to the cancel form was lost; reading the circuit before anything else');
      await ctx.afterSubmit?.('unclear', null);
      // Retried by withPortalRetry, whose next attempt starts with the read.
      throw isRpaError(thrown, 'PORTAL_HICCUP') ? thrown : portalHiccup(`the ${this.descriptor.label} cancel form (no answer in time)`, 0);
    }
    if (load) {
      this.nav.expectSession(load);
      if (await this.nav.detoured(ctx, load)) return undefined;
    }

    const page = ctx.page;
    const outcomes = { confirmed: this.answerBox(ctx, c.confirmed), already: this.answerBox(ctx, c.already), refused: page.locator(c.refused) };
    const outcome = await firstVisible(outcomes, t.actionMs);
    if (outcome === 'confirmed' || outcome === 'already') {
      const answer = c[outcome];
      const reference = await this.referenceIn(ctx, outcomes[outcome], answer);
      // After a lost answer, "already cancelled" is most likely this job's own earlier submission.
      const afterLostAnswer = unclear(ctx).delete(circuit);
      const before = outcome === 'already' && !afterLostAnswer;
      await ctx.captureEvidence(outcome === 'confirmed' ? 'confirmation' : 'already-cancelled');
      await ctx.afterSubmit?.('confirmed', reference);
      return { found: true, circuit_number: circuit, cancelled: true, already_cancelled: before, reference };
    }
    if (outcome === 'refused') {
      const message = await textOf(outcomes.refused, t.actionMs);
      if (c.retryWhen?.test(message)) {
        ctx.logger.warn(`${this.descriptor.label} refused the cancel form's token; reading the circuit and loading the form again`);
        return undefined;
      }
      throw new RpaError('CANCELLATION_REFUSED', `${this.descriptor.label} refused the cancellation of ${circuit}: "${message.slice(0, 200)}"`);
    }
    throw await this.nav.tools.mismatch(ctx, 'no confirmation, already-cancelled answer or error after submitting the cancel form', anyOf(c.confirmed.selector, c.already.selector, c.refused));
  }

  private answerBox(ctx: ProviderSessionContext, answer: CancelAnswer): Locator {
    return ctx.page.locator(answer.selector, answer.hasText === undefined ? undefined : { hasText: answer.hasText });
  }

  private async referenceIn(ctx: ProviderSessionContext, box: Locator, answer: CancelAnswer): Promise<string> {
    const t = resolveTimeouts(ctx);
    const where = answer.reference;
    if ('selector' in where) {
      const shown = box.first().locator(where.selector);
      if ((await shown.count()) === 0) throw await this.nav.tools.mismatch(ctx, 'no reference in the answer to the cancel form', `${answer.selector} ${where.selector}`);
      return textOf(shown, t.actionMs);
    }
    const text = await textOf(box, t.actionMs);
    const at = text.indexOf(where.after);
    const reference = at < 0 ? undefined : /^\S+/.exec(text.slice(at + where.after.length).trim())?.[0];
    if (!reference) throw await this.nav.tools.mismatch(ctx, `no reference after "${where.after}" in the answer to the cancel form`, answer.selector);
    return reference;
  }
}
