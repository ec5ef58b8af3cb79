import type { Config } from '../config/config.js';
import type { Logger } from '../logger.js';
import type { BrowserServiceManager } from './browser-service-manager.js';
import { KubernetesBrowserServiceManager } from './kubernetes-browser-service-manager.js';
import { LocalBrowserServiceManager } from './local-browser-service-manager.js';

/**
 * The browser service manager `BROWSER_MANAGER_MODE` asks for: pods through the in-cluster
 * Kubernetes API (`kubernetes`), or browser-pool processes on this machine (`local`).
 */
export function createBrowserServiceManager(config: Config, options: { logger: Logger; env: NodeJS.ProcessEnv }): BrowserServiceManager {
  if (config.browserManager.mode === 'kubernetes') return new KubernetesBrowserServiceManager(config, { logger: options.logger });
  return new LocalBrowserServiceManager(config, { logger: options.logger, env: options.env });
}
