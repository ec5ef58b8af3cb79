import { expect } from 'chai';
import { generate } from 'otplib';
import { FormPortalAutomation } from '../../src/providers/form-portal/form-portal-automation.js';
import octotel from '../../src/providers/octotel/index.js';
import { octotelPortal } from '../../src/providers/octotel/portal-map.js';
import { describeProviderAutomation } from './provider-automation-suite.js';
import { rejection, totpSource } from './provider-test-kit.js';

describeProviderAutomation(
  {
    automation: octotel.automation,
    digitCount: 6,
    circuit: (digits) => `OCT${digits}`,
    portalInvalidNumber: 'OCT12',
    withDescriptor: (descriptor) => new FormPortalAutomation(descriptor, octotelPortal),
  },
  (h) => {
    describe('TOTP', () => {
      it('reports an accepted code and the portal counts it', async () => {
        const session = await h.session();
        await session.login();
        expect(session.totp!.outcomes).to.deep.equal(['accepted']);
        expect((await h.control.stats()).totp_ok).to.equal(1);
      });

      it('asks for a fresh code when the portal says the code was already used', async () => {
        const secret = h.descriptor.practiceAccount.totpSecret!;
        // One step for both codes: read from the clock twice, a 30 s boundary between the reads
        // made the "reused" code a fresh one.
        const step = Math.floor(Date.now() / 1000 / 30);
        const reused = await generate({ secret, epoch: step * 30 });
        const first = await h.session({ getTotp: async () => reused, reportTotp: async () => undefined });
        await first.login();
        const codes = [reused, await generate({ secret, epoch: (step + 1) * 30 })];
        const outcomes: string[] = [];
        const second = await h.session({
          getTotp: async () => codes.shift() ?? 'no-more',
          reportTotp: async (o) => void outcomes.push(o),
        });
        await second.login();
        expect(outcomes).to.deep.equal(['refused', 'accepted']);
        const stats = await h.control.stats();
        expect(stats.totp_rejected_reused).to.equal(1);
        expect(stats.logins_ok).to.equal(2);
      });

      it('fails with TOTP_REFUSED after a bounded number of wrong codes', async () => {
        let asked = 0;
        const outcomes: string[] = [];
        const session = await h.session({
          getTotp: async () => {
            asked++;
            return '000000';
          },
          reportTotp: async (o) => void outcomes.push(o),
        });
        const error = await rejection(session.login());
        expect(error.code).to.equal('TOTP_REFUSED');
        expect(error.retryable).to.equal(false);
        expect(asked).to.equal(3);
        expect(outcomes).to.deep.equal(['refused', 'refused', 'refused']);
        expect(error.message).to.not.contain('000000');
        const stats = await h.control.stats();
        expect(stats.totp_rejected_invalid).to.equal(3);
        expect(stats.logins_ok).to.equal(0);
      });

      it('takes a pre-auth that aged out before its code was judged for a lost session (retried), not a refused code', async () => {
        const totp = totpSource(h.descriptor.practiceAccount.totpSecret!);
        let aged = false;
        const session = await h.session({
          getTotp: async () => {
            // The browser drops the pre-auth cookie once it expires: the code reaches no pre-auth.
            if (!aged) await h.contexts.at(-1)!.clearCookies();
            aged = true;
            return totp.getTotp();
          },
          reportTotp: totp.reportTotp,
        });
        const error = await rejection(session.login());
        expect(error.code, error.message).to.equal('SESSION_LOST');
        expect(error.retryable).to.equal(true);
        expect(totp.outcomes, 'a code the portal never judged is not reported').to.deep.equal([]);
        expect((await h.control.stats()).totp_rejected_invalid).to.equal(0);

        await session.login();
        expect(totp.outcomes).to.deep.equal(['accepted']);
        expect((await h.control.stats()).logins_ok).to.equal(1);
      });

      it('refuses to log in without a TOTP source', async () => {
        const session = await h.session({ getTotp: undefined });
        expect((await rejection(session.login())).code).to.equal('CONFIG_INVALID');
      });
    });
  },
);
