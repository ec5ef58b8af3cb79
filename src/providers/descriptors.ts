import { practicePortalNames } from '../portals/practice-portals.js';
import type { ProviderDescriptor } from './provider.js';
import { registeredDescriptors } from './registry.js';

/**
 * Every provider the system knows (registry.ts). Config, API validation and queues call these
 * when they run, never at import, so a provider registered before start-up is seen everywhere.
 */
export function providerDescriptors(): readonly ProviderDescriptor[] {
  return registeredDescriptors();
}

export function providerNames(): string[] {
  return registeredDescriptors().map((d) => d.name);
}

export function findDescriptor(name: string): ProviderDescriptor | undefined {
  return registeredDescriptors().find((d) => d.name === name);
}

/** Whether the system can run this provider against a practice portal (else `<NAME>_URL` is required). */
export function hasPracticePortal(name: string): boolean {
  return practicePortalNames().includes(name);
}
