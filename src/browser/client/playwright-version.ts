import { createRequire } from 'node:module';
import { RpaError } from '../../errors/failures.js';

const require = createRequire(import.meta.url);

/** The playwright-core version this process runs (pinned exactly in package.json). */
export const PLAYWRIGHT_VERSION: string = (require('playwright-core/package.json') as { version: string }).version;

/**
 * The Playwright wire protocol refuses a client whose version differs from the server's; say so
 * clearly before trying to connect. Throws RpaError BROWSER_VERSION_MISMATCH.
 */
export function assertSamePlaywrightVersion(serverVersion: string | undefined, clientVersion: string = PLAYWRIGHT_VERSION): void {
  if (serverVersion === clientVersion) return;
  throw new RpaError(
    'BROWSER_VERSION_MISMATCH',
    `browser pool runs playwright-core ${serverVersion ?? '(unknown)'} but this client runs ${clientVersion}; ` +
      'pin the same playwright-core version on both sides',
    { details: { serverVersion, clientVersion } },
  );
}
