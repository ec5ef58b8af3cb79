import type { BrowserContextOptions } from 'playwright-core';

/**
 * Every leased context looks like the same South African desktop browser, so portals see one
 * consistent client whatever browser of the pool served the lease.
 */
export const DEFAULT_CONTEXT_OPTIONS: Readonly<BrowserContextOptions> = Object.freeze({
  viewport: { width: 1366, height: 768 },
  locale: 'en-ZA',
  timezoneId: 'Africa/Johannesburg',
  userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
});
