import type { PracticePortalFactory } from '../../portals/practice-portals.js';
import type { ProviderModule } from '../provider-module.js';
import type { ProviderDescriptor } from '../provider.js';
import { FormPortalAutomation } from './form-portal-automation.js';
import type { PortalMap } from './portal-map.js';

/** A provider module for a form portal: its descriptor, the shared flow driven by its map, and any practice portal of its own. */
export function formPortalProvider(descriptor: ProviderDescriptor, portal: PortalMap, practicePortal?: PracticePortalFactory): ProviderModule {
  return { descriptor, automation: new FormPortalAutomation(descriptor, portal), ...(practicePortal ? { practicePortal } : {}) };
}
