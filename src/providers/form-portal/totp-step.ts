import { RpaError } from '../../errors/failures.js';
import { firstVisible, locatorOf, submitForm, textOf } from '../portal-page.js';
import type { ProviderDescriptor, ProviderSessionContext } from '../provider.js';
import { resolveTimeouts } from '../provider-timeouts.js';
import { loginRefusal } from './login-refusal.js';
import { anyOf, reachedPage } from './map-templates.js';
import type { FlowTools, TotpLoginStep } from './portal-map.js';

/**
 * The second factor: up to `step.codes` codes in one pre-auth, each fetched from the central
 * TOTP manager at the moment it is typed (a code fetched earlier may age out of its step) and
 * reported with the portal's answer. A replayed step means another login took it: TOTP_REUSED,
 * which a later attempt answers with a fresh step; wrong codes end in TOTP_REFUSED. A pre-auth
 * that aged out before a code was judged is SESSION_LOST: retried, never counted as a refusal.
 */
export async function enterTotp(ctx: ProviderSessionContext, descriptor: ProviderDescriptor, word: string, step: TotpLoginStep, tools: FlowTools): Promise<void> {
  const { page } = ctx;
  const t = resolveTimeouts(ctx);
  const getTotp = ctx.getTotp;
  if (!getTotp) throw new RpaError('CONFIG_INVALID', `${descriptor.label} needs a TOTP code source (getTotp) to log in`);
  const form = page.locator(step.form);
  for (let attempt = 1; attempt <= step.codes; attempt++) {
    await form.waitFor({ state: 'visible', timeout: t.actionMs }).catch(async () => {
      throw await tools.mismatch(ctx, `no ${step.form} at the ${step.name} step`, step.form);
    });
    const code = await getTotp();
    await form.locator(step.code).fill(code, { timeout: t.actionMs });
    const load = await submitForm(ctx, form.locator(step.submit), `the ${descriptor.label} ${step.name} step`, t.loginMs);

    const outcomes = {
      accepted: locatorOf(page, step.accepted.selector),
      refused: page.locator(step.refused),
      restarted: locatorOf(page, step.restarted.selector),
    };
    const outcome = reachedPage(load, step.accepted) ? 'accepted' : await firstVisible(outcomes, t.actionMs);
    if (outcome === 'accepted') {
      await ctx.reportTotp?.('accepted');
      return;
    }
    const message = outcome === 'refused' ? await textOf(outcomes.refused, t.actionMs) : '';
    // Checked before the code is spent: the code was not judged, so nothing is reported.
    if (/too many active sessions/i.test(message)) throw loginRefusal(descriptor, word, undefined, message);
    const reused = step.reused.test(message);
    const invalid = step.invalid.test(message);
    const restarted = reachedPage(load, step.restarted) || outcome === 'restarted';
    if (!reused && !invalid && !restarted) {
      throw await tools.mismatch(ctx, `unexpected answer to the verification code: "${message.slice(0, 80)}"`, anyOf(step.accepted.selector, step.refused));
    }
    // The portal ends a pre-auth at its `codes`-th refusal: sent back before that, with no verdict
    // on the code, the pre-auth aged out (a slow login). Nothing says the secret is wrong.
    if (restarted && !reused && !invalid && attempt < step.codes) {
      throw new RpaError('SESSION_LOST', `${descriptor.label} ended the sign-in before judging verification code ${attempt} (its pre-auth aged out); the login is tried again`);
    }
    await ctx.reportTotp?.('refused');
    ctx.logger.warn({ attempt, refusal: reused ? 'reused' : 'invalid' }, `${descriptor.label} refused a verification code`);
    if (attempt === step.codes || restarted) {
      throw new RpaError(
        reused ? 'TOTP_REUSED' : 'TOTP_REFUSED',
        `${descriptor.label} refused ${attempt} verification code(s)${message ? ` (last answer: "${message.slice(0, 80)}")` : ''}`,
      );
    }
  }
}
