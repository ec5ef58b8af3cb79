import { submitForm, textOf, type PageLoad } from '../portal-page.js';
import type { FlowTools } from '../form-portal/portal-map.js';
import type { ProviderSessionContext } from '../provider.js';
import { resolveTimeouts } from '../provider-timeouts.js';

const NOTICE_FORM = 'form#noticeForm';

/**
 * MetroFiber's notice: after the first login since the portal started, every page sends the
 * robot to `page=notice` until one session acknowledges it. The robot acknowledges it wherever
 * it meets it, by submitting the form the portal served (so its CSRF token is the portal's own).
 */
export async function acknowledgeNotice(ctx: ProviderSessionContext, load: PageLoad, tools: FlowTools): Promise<boolean> {
  if (load.url.pathname !== '/index.php' || load.url.searchParams.get('page') !== 'notice') return false;
  const { page } = ctx;
  const t = resolveTimeouts(ctx);
  const form = page.locator(NOTICE_FORM);
  await form.waitFor({ state: 'visible', timeout: t.actionMs }).catch(async () => {
    throw await tools.mismatch(ctx, 'no notice form on the notice page', NOTICE_FORM);
  });
  ctx.logger.info('acknowledging the MetroFiber notice');
  const answer = await submitForm(ctx, form.locator('button#acknowledge'), 'the MetroFiber notice');
  tools.expectSession(answer);
  if (answer.status >= 400) {
    const message = await textOf(page.locator('div.error'), t.actionMs).catch(() => '');
    // Another session acknowledged first, or the token aged: either way the caller loads its page again.
    ctx.logger.warn({ status: answer.status, message: message.slice(0, 80) }, 'MetroFiber notice acknowledgement refused');
  }
  return true;
}
