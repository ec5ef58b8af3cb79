import { cancellationRequest } from '../cancellation-request.js';
import { checkedCircuitNumber } from '../circuit-number.js';
import { openUrl, portalUrl } from '../portal-page.js';
import { portalHiccup, withPortalRetry } from '../portal-retry.js';
import type {
  CancellationParams,
  CancellationResult,
  ProviderAutomation,
  ProviderDescriptor,
  ProviderSessionContext,
  ValidationResult,
} from '../provider.js';
import { resolveTimeouts } from '../provider-timeouts.js';
import { CancelFlow } from './cancel-flow.js';
import { CircuitReader } from './circuit-reader.js';
import type { PortalMap } from './portal-map.js';
import { PortalLogin } from './portal-login.js';
import { PortalNavigation } from './portal-navigation.js';

/**
 * The automation of a form portal, written once: login steps, a circuit search read in one
 * round trip, the reference of a cancelled circuit, the cancel form (read first, filled,
 * submitted, its answer read), the contract canary and the logout, all driven by the portal's
 * map (`portal-map.ts`) and its few hooks.
 */
export class FormPortalAutomation implements ProviderAutomation {
  private readonly nav: PortalNavigation;
  private readonly signIn: PortalLogin;
  private readonly reader: CircuitReader;
  private readonly cancellation: CancelFlow;

  constructor(
    readonly descriptor: ProviderDescriptor,
    readonly portal: PortalMap,
  ) {
    this.nav = new PortalNavigation(descriptor.label, portal);
    this.signIn = new PortalLogin(descriptor, portal.login, this.nav);
    this.reader = new CircuitReader(descriptor, portal.search, this.nav);
    this.cancellation = new CancelFlow(descriptor, portal.cancel, portal.hooks ?? {}, this.nav, this.reader);
  }

  login(ctx: ProviderSessionContext): Promise<void> {
    return this.signIn.login(ctx);
  }

  async isSessionLost(ctx: ProviderSessionContext): Promise<boolean> {
    if (this.nav.isSignInPage(new URL(ctx.page.url()))) return true;
    const expired = this.portal.search.sessionExpired;
    return expired !== undefined && ctx.page.locator(expired).first().isVisible();
  }

  async validate(ctx: ProviderSessionContext, circuitNumber: string): Promise<ValidationResult> {
    const circuit = checkedCircuitNumber(this.descriptor, circuitNumber);
    const { state } = await withPortalRetry(ctx, `${this.descriptor.label} validation`, () => this.reader.read(ctx, circuit));
    await ctx.captureEvidence('result');
    return state;
  }

  cancel(ctx: ProviderSessionContext, params: CancellationParams): Promise<CancellationResult> {
    return this.cancellation.cancel(ctx, cancellationRequest(this.descriptor, params));
  }

  /** Searches the probe circuit and, when it is cancellable, looks at its cancel form; submits nothing. */
  async checkContract(ctx: ProviderSessionContext): Promise<void> {
    await withPortalRetry(ctx, `${this.descriptor.label} contract check`, async () => {
      const probe = this.portal.probeCircuit;
      const { state, result } = await this.reader.read(ctx, probe);
      if (!state.found || state.status === 'cancelled') return;
      await this.cancellation.checkForm(ctx, await this.cancellation.openForm(ctx, probe, result));
    });
  }

  async logout(ctx: ProviderSessionContext): Promise<void> {
    const { method, path } = this.portal.logout;
    await withPortalRetry(ctx, `${this.descriptor.label} logout`, async () => {
      if (method === 'GET') {
        await openUrl(ctx, path, 'logout');
        return;
      }
      const response = await ctx.page.request.post(portalUrl(ctx, path), { timeout: resolveTimeouts(ctx).navigationMs, maxRedirects: 0 });
      if (response.status() === 503) throw portalHiccup('the logout');
    });
  }
}
