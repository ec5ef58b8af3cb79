import { evotelDescriptor } from './evotel/descriptor.js';
import { metrofiberDescriptor } from './metrofiber/descriptor.js';
import { octotelDescriptor } from './octotel/descriptor.js';
import { openserveDescriptor } from './openserve/descriptor.js';
import type { ProviderDescriptor } from './provider.js';

/**
 * Every provider the system knows. Config, API validation and queues are driven by this
 * list; the automations are registered beside them in registry.ts.
 */
export const providerDescriptors: readonly ProviderDescriptor[] = [
  octotelDescriptor,
  openserveDescriptor,
  metrofiberDescriptor,
  evotelDescriptor,
];

export const providerNames: readonly string[] = providerDescriptors.map((d) => d.name);

export function findDescriptor(name: string): ProviderDescriptor | undefined {
  return providerDescriptors.find((d) => d.name === name);
}
