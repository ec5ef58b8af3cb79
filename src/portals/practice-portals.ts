import type { RequestListener } from 'node:http';
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import type { PracticeAccount } from './core/practice-account.js';

export type { PracticeAccount };
import { listen } from './core/portal-server.js';
import { createEvotelPortal } from './evotel/evotel-portal.js';
import { createMetrofiberPortal } from './metrofiber/metrofiber-portal.js';
import { createOctotelPortal } from './octotel/octotel-portal.js';
import { createOpenservePortal } from './openserve/openserve-portal.js';


/** One running practice portal. */
export interface PracticePortal {
  name: string;
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`. */
  url: string;
  close(): Promise<void>;
}

/** All practice portals started together. */
export interface PracticePortals {
  /** Base URL per portal name. */
  urls: Record<string, string>;
  portals: PracticePortal[];
  close(): Promise<void>;
}

/**
 * Builds a practice portal's app for its one account. A provider module that brings its own
 * practice portal (src/providers/provider-module.ts) hands one of these in.
 */
export type PracticePortalFactory = (account: PracticeAccount) => { app: RequestListener };

/** The practice portals this project ships (SPEC.md), and those providers registered since. */
const FACTORIES = new Map<string, PracticePortalFactory>([
  ['octotel', createOctotelPortal],
  ['openserve', createOpenservePortal],
  ['metrofiber', createMetrofiberPortal],
  ['evotel', createEvotelPortal],
]);

/** Names of the portals this module can start, read at call time. */
export function practicePortalNames(): string[] {
  return [...FACTORIES.keys()];
}

/**
 * Makes a provider's own practice portal startable by name (the provider registry calls this
 * for a provider module that has one). Registering the same factory twice is harmless; another
 * factory under a known name is refused.
 */
export function registerPracticePortal(name: string, factory: PracticePortalFactory): void {
  const known = FACTORIES.get(name);
  if (known && known !== factory) throw new Error(`practice portal "${name}" is already registered`);
  FACTORIES.set(name, factory);
}

/**
 * Starts one practice portal (SPEC.md) on its own origin: `host` defaults to 127.0.0.1 and
 * `port` to 0 (any free port). `factory` starts a portal that is not registered by name.
 */
export async function startPracticePortal(
  name: string,
  options: { port?: number; host?: string; account: PracticeAccount; logger?: Logger; factory?: PracticePortalFactory },
): Promise<PracticePortal> {
  const factory = options.factory ?? FACTORIES.get(name);
  if (!factory) throw new Error(`unknown practice portal "${name}" (known: ${practicePortalNames().join(', ')})`);
  const { app } = factory(options.account);
  const server = await listen(app, options.host ?? '127.0.0.1', options.port ?? 0);
  const logger = (options.logger ?? silentLogger).child({ portal: name });
  logger.info({ url: server.url }, 'practice portal listening');
  return {
    name,
    url: server.url,
    async close() {
      await server.close();
      logger.info('practice portal stopped');
    },
  };
}

/**
 * Starts several practice portals; if one fails to start, the ones already started are
 * closed before the error is thrown.
 */
export async function startPracticePortals(options: {
  portals: Record<string, { port?: number; account: PracticeAccount; factory?: PracticePortalFactory }>;
  host?: string;
  logger?: Logger;
}): Promise<PracticePortals> {
  const portals: PracticePortal[] = [];
  const closeAll = async () => {
    const results = await Promise.allSettled(portals.map((p) => p.close()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  };
  try {
    for (const [name, spec] of Object.entries(options.portals)) {
      portals.push(await startPracticePortal(name, { ...spec, host: options.host, logger: options.logger }));
    }
  } catch (error) {
    await closeAll().catch(() => undefined);
    throw error;
  }
  return {
    urls: Object.fromEntries(portals.map((p) => [p.name, p.url])),
    portals,
    close: closeAll,
  };
}
