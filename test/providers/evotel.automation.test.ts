import { expect } from 'chai';
import { FormPortalAutomation } from '../../src/providers/form-portal/form-portal-automation.js';
import evotel from '../../src/providers/evotel/index.js';
import { evotelPortal } from '../../src/providers/evotel/portal-map.js';
import { describeProviderAutomation } from './provider-automation-suite.js';
import { rejection } from './provider-test-kit.js';

describeProviderAutomation(
  {
    automation: evotel.automation,
    digitCount: 6,
    circuit: (digits) => `EVO${digits}`,
    portalInvalidNumber: 'EVO12',
    withDescriptor: (descriptor) => new FormPortalAutomation(descriptor, evotelPortal),
  },
  (h) => {
    describe('two-step sign-in', () => {
      it('fails an unknown username at the first step with LOGIN_REFUSED', async () => {
        const session = await h.session({ credentials: { login: 'nobody.here', password: 'whatever-Secret-1' } });
        const error = await rejection(session.login());
        expect(error.code).to.equal('LOGIN_REFUSED');
        expect(error.message).to.contain('username step');
        expect(error.message).to.not.contain('whatever-Secret-1');
        expect((await h.control.stats()).logins_failed).to.equal(1);
      });
    });
  },
);
