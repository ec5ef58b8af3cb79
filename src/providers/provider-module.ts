import type { PracticePortalFactory } from '../portals/practice-portals.js';
import type { ProviderAutomation, ProviderDescriptor } from './provider.js';

/**
 * One provider as a whole: what a provider folder's `index.ts` default-exports, and what a
 * plugin named in RPA_PROVIDER_MODULES default-exports. `practicePortal` lets the system run
 * the provider against a practice portal of its own when `<NAME>_URL` is not set; without
 * one, `<NAME>_URL` is required (unless the portals shipped in src/portals/ have it).
 */
export interface ProviderModule {
  descriptor: ProviderDescriptor;
  automation: ProviderAutomation;
  practicePortal?: PracticePortalFactory;
}
