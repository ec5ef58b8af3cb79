import { setTimeout as delay } from 'node:timers/promises';
import { expect } from 'chai';
import { FormPortalAutomation } from '../../src/providers/form-portal/form-portal-automation.js';
import openserve from '../../src/providers/openserve/index.js';
import { openservePortal } from '../../src/providers/openserve/portal-map.js';
import type { ProviderSessionContext } from '../../src/providers/provider.js';
import { describeProviderAutomation } from './provider-automation-suite.js';
import { rejection } from './provider-test-kit.js';
import { testLogger } from '../support/shared-services.js';

const automation = openserve.automation;

describeProviderAutomation(
  {
    automation,
    digitCount: 7,
    circuit: (digits) => `OSN${digits}`,
    portalInvalidNumber: 'OSN12',
    withDescriptor: (descriptor) => new FormPortalAutomation(descriptor, openservePortal),
  },
  (h) => {
    describe('client-rendered session expiry', () => {
      it('recognises the session-expired element a search renders on a 401', async () => {
        const context = await h.browser.newContext();
        h.contexts.push(context);
        const page = await context.newPage();
        const account = h.descriptor.practiceAccount;
        const ctx: ProviderSessionContext = {
          page,
          baseUrl: h.portal.url,
          credentials: { login: account.login, password: account.password },
          captureEvidence: async () => undefined,
          logger: testLogger,
        };
        await automation.login(ctx);
        await h.control.configure({ session_idle_s: 1 });
        await page.goto(`${h.portal.url}/app`);
        await page.locator('input[data-testid=search-input]').fill('OSN0000021');
        expect(await automation.isSessionLost(ctx)).to.equal(false);
        // The app page is already loaded; let the session expire before its search calls the API.
        await delay(1_600);
        await page.locator('button[data-testid=search-button]').click();
        await page.locator('div[data-testid=session-expired]').waitFor({ state: 'visible', timeout: 10_000 });
        expect(new URL(page.url()).pathname).to.equal('/app');
        expect(await automation.isSessionLost(ctx)).to.equal(true);
        const error = await rejection(automation.validate({ ...ctx, retry: { attempts: 1 } }, 'OSN0000021'));
        expect(error.code).to.equal('SESSION_LOST');
        expect(error.retryable).to.equal(true);
      });
    });
  },
);
