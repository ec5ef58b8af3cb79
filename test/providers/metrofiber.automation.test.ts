import { expect } from 'chai';
import { FormPortalAutomation } from '../../src/providers/form-portal/form-portal-automation.js';
import metrofiber from '../../src/providers/metrofiber/index.js';
import { metrofiberPortal } from '../../src/providers/metrofiber/portal-map.js';
import { describeProviderAutomation } from './provider-automation-suite.js';

describeProviderAutomation(
  {
    automation: metrofiber.automation,
    digitCount: 8,
    circuit: (digits) => `MFN-${digits.slice(0, 4)}-${digits.slice(4)}`,
    portalInvalidNumber: 'MFN-12',
    withDescriptor: (descriptor) => new FormPortalAutomation(descriptor, metrofiberPortal),
  },
  (h) => {
    describe('CSRF token', () => {
      it('fetches the form again when the portal refuses its token, then cancels once', async () => {
        const session = await h.session();
        await session.login();
        let tampered = 0;
        await h.contexts[h.contexts.length - 1].route(
          (url) => url.searchParams.get('page') === 'cancel',
          async (route) => {
            const request = route.request();
            if (request.method() === 'POST' && tampered++ === 0) {
              const body = new URLSearchParams(request.postData() ?? '');
              expect(body.get('csrf_token')).to.be.a('string').and.not.equal('');
              body.set('csrf_token', 'stale-token');
              await route.continue({ postData: body.toString() });
              return;
            }
            await route.continue();
          },
        );
        const { result } = await session.cancel('j1', { circuit_number: 'MFN-0000-0024' });
        expect(tampered).to.equal(2);
        expect(result).to.deep.equal({ found: true, circuit_number: 'MFN-0000-0024', cancelled: true, already_cancelled: false, reference: 'MFN-CAN-000001' });
        const stats = await h.control.stats();
        expect(stats.cancellations).to.deep.equal({ 'MFN-0000-0024': 1 });
      });
    });

    describe('notice page', () => {
      it('acknowledges the notice after the first login, so pages no longer detour', async () => {
        const session = await h.session();
        await session.login();
        const context = h.contexts[h.contexts.length - 1];
        const probe = await context.request.get(`${h.portal.url}/index.php?page=home`, { maxRedirects: 0 });
        expect(probe.status()).to.equal(200);
        const { result } = await session.validate('j1', 'MFN-0000-0021');
        expect(result.found).to.equal(true);
        const second = await h.session();
        await second.login();
        expect(second.loginCount).to.equal(1);
        expect((await h.control.stats()).logins_ok).to.equal(2);
      });
    });
  },
);
