import type { BrowserSource } from '../browser/browser-source.js';
import type { ProviderConfig } from '../config/config.js';
import type { Credentials } from '../config/live-settings.js';
import { coerceError } from '../errors/coerce-error.js';
import { isEvidenceItems } from '../evidence/evidence-item.js';
import type { EvidenceRecorder } from '../evidence/evidence-recorder.js';
import type { Logger } from '../logger.js';
import type { ProviderAutomation } from '../providers/provider.js';
import type { TotpManager } from '../totp/totp-manager.js';
import { BatchSession } from './batch-session.js';

/** What the canary found: the pages match the contract, or where they did not. */
export type CanaryVerdict =
  | { ok: true; checked_at: string }
  | { ok: false; checked_at: string; code: string; message: string; selector: string | null; dom_snippet: string | null; /** Evidence store keys of what it saw. */ screenshots: string[] };

export interface ContractCanaryDeps {
  providers: Readonly<Record<string, ProviderConfig>>;
  portalUrls: Readonly<Record<string, string>>;
  automationFor: (provider: string) => ProviderAutomation;
  pool: BrowserSource;
  totp: TotpManager;
  credentials: (config: ProviderConfig) => Credentials;
  evidence: EvidenceRecorder;
  logger: Logger;
}

/**
 * The contract canary on its own session: lease a context, log in (a fresh one-time code for
 * Octotel), read the provider's probe pages without changing anything, log out. What a resume
 * of a provider paused for contract drift asks first.
 */
export async function runCanary(deps: ContractCanaryDeps, provider: string): Promise<CanaryVerdict> {
  const config = deps.providers[provider];
  if (!config) throw new Error(`unknown provider ${provider}`);
  const log = deps.logger.child({ provider, component: 'canary' });
  const session = new BatchSession({
    provider: config,
    portalUrl: deps.portalUrls[provider],
    credentials: () => deps.credentials(config),
    automation: deps.automationFor(provider),
    browsers: deps.pool,
    totp: deps.totp,
    evidence: deps.evidence,
    batchId: `canary-${provider}`,
    logger: log,
  });
  const checked_at = new Date().toISOString();
  try {
    await session.open();
    await session.checkContract();
    log.info('canary: the pages match the portal contract');
    return { ok: true, checked_at };
  } catch (thrown) {
    const error = coerceError(thrown);
    log.warn({ code: error.code, err: error.message }, 'canary: the check failed');
    return {
      ok: false,
      checked_at,
      code: error.code,
      message: error.message,
      selector: typeof error.details?.selector === 'string' ? error.details.selector : null,
      dom_snippet: typeof error.details?.dom_snippet === 'string' ? error.details.dom_snippet : null,
      screenshots: isEvidenceItems(error.details?.evidence) ? error.details.evidence.map((item) => item.key) : [],
    };
  } finally {
    await session.close();
  }
}
