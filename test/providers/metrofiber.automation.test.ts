import { expect } from 'chai';
import { MetroFiberAutomation } from '../../src/providers/metrofiber/automation.js';
import { describeProviderAutomation } from './provider-automation-suite.js';

describeProviderAutomation(
  {
    automation: new MetroFiberAutomation(),
    digitCount: 8,
    circuit: (digits) => `MFN-${digits.slice(0, 4)}-${digits.slice(4)}`,
    portalInvalidNumber: 'MFN-12',
    withDescriptor: (descriptor) => new MetroFiberAutomation(descriptor),
  },
  (h) => {
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
