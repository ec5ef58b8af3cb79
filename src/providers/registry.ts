import { RpaError } from '../errors/failures.js';
import { registerPracticePortal } from '../portals/practice-portals.js';
import evotel from './evotel/index.js';
import metrofiber from './metrofiber/index.js';
import octotel from './octotel/index.js';
import openserve from './openserve/index.js';
import type { ProviderAutomation, ProviderDescriptor } from './provider.js';
import type { ProviderModule } from './provider-module.js';

/**
 * Every provider the system knows, in order: the four below (a new provider is a folder and one
 * line here) and those registered before the system starts (plugins named in
 * RPA_PROVIDER_MODULES, provider-plugins.ts). Everything downstream (config, API validation,
 * queues, batchers, workers, Bull Board, metrics, health) reads this list when it runs.
 */
const modules: ProviderModule[] = [
  octotel,
  openserve,
  metrofiber,
  evotel,
];

/** A provider's name becomes env var prefixes (`<NAME>_URL`) and queue names. */
const NAME = /^[a-z][a-z0-9]{1,30}$/;

/**
 * Adds a provider. Registering the same module again does nothing; another module under a
 * known name, a bad name or an automation built for another descriptor is refused with
 * CONFIG_INVALID.
 */
export function registerProvider(module: ProviderModule): void {
  const { descriptor, automation, practicePortal } = module;
  const name = String(descriptor?.name);
  const known = modules.find((m) => m.descriptor.name === name);
  if (known === module) return;
  if (known) throw new RpaError('CONFIG_INVALID', `provider "${name}" is registered already`);
  if (!NAME.test(name)) throw new RpaError('CONFIG_INVALID', `provider name "${name.slice(0, 40)}" must be lower-case letters and digits`);
  if (automation.descriptor.name !== name) throw new RpaError('CONFIG_INVALID', `provider "${name}": its automation is built for "${automation.descriptor.name}"`);
  if (practicePortal) registerPracticePortal(name, practicePortal);
  modules.push(module);
}

/** Every registered provider module, in registration order. */
export function providerModules(): readonly ProviderModule[] {
  return [...modules];
}

/** Every registered provider's automation. */
export function automations(): ProviderAutomation[] {
  return modules.map((m) => m.automation);
}

/** Every registered provider's descriptor. */
export function registeredDescriptors(): ProviderDescriptor[] {
  return modules.map((m) => m.descriptor);
}

/** The automation for a provider name (as in its descriptor); NOT_FOUND for an unknown one. */
export function automationFor(name: string): ProviderAutomation {
  const found = modules.find((m) => m.descriptor.name === name);
  if (!found) {
    throw new RpaError('NOT_FOUND', `no automation for provider "${String(name).slice(0, 40)}"; known: ${modules.map((m) => m.descriptor.name).join(', ')}`);
  }
  return found.automation;
}
