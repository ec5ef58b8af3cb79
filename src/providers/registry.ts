import { RpaError } from '../errors/failures.js';
import { EvotelAutomation } from './evotel/automation.js';
import { MetroFiberAutomation } from './metrofiber/automation.js';
import { OctotelAutomation } from './octotel/automation.js';
import { OpenserveAutomation } from './openserve/automation.js';
import type { ProviderAutomation } from './provider.js';

/**
 * Every provider's automation, one per descriptor in descriptors.ts. A new provider is a new
 * folder (descriptor.ts + automation.ts) and one line here and in descriptors.ts.
 */
export const automations: readonly ProviderAutomation[] = [
  new OctotelAutomation(),
  new OpenserveAutomation(),
  new MetroFiberAutomation(),
  new EvotelAutomation(),
];

/** The automation for a provider name (as in its descriptor); NOT_FOUND for an unknown one. */
export function automationFor(name: string): ProviderAutomation {
  const automation = automations.find((a) => a.descriptor.name === name);
  if (!automation) {
    throw new RpaError('NOT_FOUND', `no automation for provider "${String(name).slice(0, 40)}"; known: ${automations.map((a) => a.descriptor.name).join(', ')}`);
  }
  return automation;
}
