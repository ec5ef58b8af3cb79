import { RpaError } from '../../errors/failures.js';
import { contractMismatch, openUrl, type PageLoad } from '../portal-page.js';
import { portalHiccup } from '../portal-retry.js';
import type { ProviderSessionContext } from '../provider.js';
import { isPage } from './map-templates.js';
import type { FlowTools, PortalMap } from './portal-map.js';

/** Detours (a notice page) dealt with in a row before a load gives up. */
const DETOURS = 3;

/**
 * Page loads of a signed-in session: where a load ended says whether the session is gone, and
 * a portal's detour hook gets to clear a detour before the page is loaded again.
 */
export class PortalNavigation {
  readonly tools: FlowTools;

  constructor(
    readonly label: string,
    private readonly map: PortalMap,
  ) {
    this.tools = {
      label,
      expectSession: (load) => this.expectSession(load),
      mismatch: (ctx, what, selector) => contractMismatch(ctx, label, what, selector),
    };
  }

  isSignInPage(url: URL): boolean {
    return this.map.signInPages.some((page) => isPage(url, page));
  }

  /** SESSION_LOST when the load ended on a sign-in page; a hiccup for a 5xx. */
  expectSession(load: PageLoad): void {
    if (this.isSignInPage(load.url)) {
      throw new RpaError('SESSION_LOST', `${this.label} session expired (sent to ${load.url.pathname}${load.url.search})`);
    }
    if (load.status >= 500) throw portalHiccup(`a page (${load.url.pathname}${load.url.search})`, load.status);
  }

  /** Whether the page the flow landed on was a detour, now dealt with by the portal's hook. */
  async detoured(ctx: ProviderSessionContext, load: PageLoad): Promise<boolean> {
    return (await this.map.hooks?.detour?.(ctx, load, this.tools)) ?? false;
  }

  /** Loads a signed-in page, clearing any detour the portal puts in between. */
  async open(ctx: ProviderSessionContext, path: string, what: string): Promise<PageLoad> {
    for (let detour = 0; detour < DETOURS; detour++) {
      const load = await openUrl(ctx, path, what);
      this.expectSession(load);
      if (!(await this.detoured(ctx, load))) return load;
    }
    throw new RpaError('PAGE_CONTRACT_MISMATCH', `${this.label}: the portal kept detouring while loading ${what}`);
  }
}
