import type { Config } from '../config/config.js';
import type { TotpManagerOptions } from './totp-manager.js';

/**
 * The TotpManager options that come from configuration: the key prefix (the queue prefix, so
 * every process of one installation shares the same steps and counters) and the per-provider
 * lookahead (`<NAME>_TOTP_LOOKAHEAD`).
 */
export function totpSettingsFromConfig(config: Config): Pick<TotpManagerOptions, 'prefix' | 'lookaheadSteps'> {
  const lookaheadSteps: Record<string, number> = {};
  for (const [name, provider] of Object.entries(config.providers)) {
    if (provider.descriptor.needsTotp) lookaheadSteps[name] = provider.totpLookaheadSteps;
  }
  return { prefix: config.queuePrefix, lookaheadSteps };
}
