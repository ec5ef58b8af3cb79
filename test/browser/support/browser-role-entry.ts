/**
 * A browser-pool process for the local-mode tests: what `node dist/src/main.js` with
 * RPA_ROLES=browser runs, without the other roles' wiring. Settings come from the environment
 * the LocalBrowserServiceManager gives it; it stops on SIGTERM like the real entry point.
 */
import { loadConfig } from '../../../src/config/config.js';
import { createLogger } from '../../../src/logger.js';
import { startBrowserRole } from '../../../src/browser/browser-pool-main.js';

const config = loadConfig();
const logger = createLogger({ level: config.logLevel });
const role = await startBrowserRole(config, logger);
const stop = () => {
  role.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
