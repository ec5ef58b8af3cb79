import type { Locator } from 'playwright-core';
import { RpaError } from '../../errors/failures.js';
import type { FlowTools } from '../form-portal/portal-map.js';
import { answerTo } from '../portal-page.js';
import { portalHiccup } from '../portal-retry.js';
import type { ProviderSessionContext } from '../provider.js';
import { resolveTimeouts } from '../provider-timeouts.js';

/**
 * Openserve's cancel dialog sends `POST /api/circuits/<n>/cancel` from the page's script
 * instead of posting a form: the robot clicks confirm and waits for that call's answer. 200
 * and 409 render a toast, other refusals an error in the dialog, which the shared flow reads;
 * 401 is a lost session; a 5xx, a failed call or none in time is a lost answer.
 */
export async function submitThroughApi(ctx: ProviderSessionContext, circuit: string, confirm: Locator, tools: FlowTools): Promise<undefined> {
  const t = resolveTimeouts(ctx);
  const apiPath = `/api/circuits/${encodeURIComponent(circuit)}/cancel`;
  const answer = answerTo(ctx.page, (r) => r.method() === 'POST' && new URL(r.url()).pathname === apiPath, `the ${tools.label} cancellation of ${circuit}`, t.navigationMs);
  answer.catch(() => undefined);
  await confirm.click({ timeout: t.actionMs }).catch(async () => {
    throw await tools.mismatch(ctx, 'no confirm button in the cancel dialog', 'button[data-testid=confirm-cancel]');
  });
  const status = (await answer).status();
  if (status === 401) throw new RpaError('SESSION_LOST', `${tools.label} session expired during the cancellation`);
  if (status >= 500) throw portalHiccup('the cancellation request', status);
  return undefined;
}
