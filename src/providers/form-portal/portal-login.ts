import { RpaError } from '../../errors/failures.js';
import { firstVisible, locatorOf, openUrl, submitForm, textOf } from '../portal-page.js';
import { withPortalRetry } from '../portal-retry.js';
import type { ProviderDescriptor, ProviderSessionContext } from '../provider.js';
import { resolveTimeouts } from '../provider-timeouts.js';
import { loginRefusal } from './login-refusal.js';
import { anyOf, reachedPage } from './map-templates.js';
import type { FormLoginStep, LoginMap } from './portal-map.js';
import type { PortalNavigation } from './portal-navigation.js';
import { enterTotp } from './totp-step.js';

/** Times the login starts over because the portal refused its form's token. */
const FORM_RELOADS = 3;

/** Where a login step left the robot. */
type StepOutcome = 'next' | 'signed-in' | 'reload';

/** The login of a form portal: its steps in order, each map-driven (forms) or the TOTP step. */
export class PortalLogin {
  constructor(
    private readonly descriptor: ProviderDescriptor,
    private readonly map: LoginMap,
    private readonly nav: PortalNavigation,
  ) {}

  async login(ctx: ProviderSessionContext): Promise<void> {
    if (this.map.steps.some((step) => step.kind === 'totp') && !ctx.getTotp) {
      throw new RpaError('CONFIG_INVALID', `${this.descriptor.label} needs a TOTP code source (getTotp) to log in`);
    }
    await withPortalRetry(ctx, `${this.descriptor.label} ${this.map.word}`, async () => {
      for (let round = 0; round < FORM_RELOADS; round++) {
        if (await this.runSteps(ctx)) return;
        ctx.logger.warn(`${this.descriptor.label} refused the ${this.map.word} form's token; loading it again`);
      }
      throw new RpaError('PAGE_CONTRACT_MISMATCH', `${this.descriptor.label}: the ${this.map.word} form's token was refused repeatedly`);
    });
  }

  /** True once signed in; false when the form must be loaded again. */
  private async runSteps(ctx: ProviderSessionContext): Promise<boolean> {
    for (const step of this.map.steps) {
      if (step.kind === 'totp') {
        await enterTotp(ctx, this.descriptor, this.map.word, step, this.nav.tools);
        continue;
      }
      const outcome = await this.formStep(ctx, step);
      if (outcome === 'reload') return false;
      if (outcome === 'signed-in') return true;
    }
    return true;
  }

  private async formStep(ctx: ProviderSessionContext, step: FormLoginStep): Promise<StepOutcome> {
    const { page } = ctx;
    const t = resolveTimeouts(ctx);
    const label = this.descriptor.label;
    if (step.open) await openUrl(ctx, step.open, `the ${label} ${this.map.word} page`);
    const form = page.locator(step.form);
    await form.waitFor({ state: 'visible', timeout: t.actionMs }).catch(async () => {
      throw await this.nav.tools.mismatch(ctx, `no ${step.form} at the ${step.name} step`, step.form);
    });
    for (const [selector, credential] of Object.entries(step.fill)) {
      await form.locator(selector).fill(ctx.credentials[credential], { timeout: t.actionMs });
    }
    const load = await submitForm(ctx, form.locator(step.submit), `the ${label} ${step.name} step`, t.loginMs);
    if (await this.nav.detoured(ctx, load)) return 'signed-in';
    if (reachedPage(load, step.accepted)) return 'next';

    const refused = page.locator(step.refused);
    const outcome = await firstVisible({ accepted: locatorOf(page, step.accepted.selector), refused }, t.actionMs);
    if (outcome === 'accepted') return 'next';
    if (outcome === 'refused') {
      const message = await textOf(refused, t.actionMs);
      if (step.retryWhen?.test(message)) return 'reload';
      throw loginRefusal(this.descriptor, this.map.word, this.map.steps.length > 1 ? step.name : undefined, message);
    }
    throw await this.nav.tools.mismatch(ctx, `neither the next page nor an error after the ${step.name} step`, anyOf(step.accepted.selector, step.refused));
  }
}
