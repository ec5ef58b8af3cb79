import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { RpaError, isRpaError } from '../errors/failures.js';
import type { ProviderModule } from './provider-module.js';
import { registerProvider } from './registry.js';

const AUTOMATION_METHODS = ['login', 'isSessionLost', 'validate', 'cancel', 'checkContract', 'logout'] as const;

function shapeError(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'its default export is not a provider module {descriptor, automation, practicePortal?}';
  const { descriptor, automation, practicePortal } = value as Partial<ProviderModule>;
  if (typeof descriptor?.name !== 'string' || typeof descriptor.label !== 'string' || !(descriptor.circuitPattern instanceof RegExp)) {
    return 'its descriptor needs a name, a label and a circuitPattern (RegExp)';
  }
  if (typeof descriptor.referencePrefix !== 'string' || !['username', 'email'].includes(descriptor.loginField) || typeof descriptor.needsTotp !== 'boolean') {
    return 'its descriptor needs a referencePrefix, a loginField (username or email) and needsTotp';
  }
  if (typeof descriptor.practiceAccount?.login !== 'string' || typeof descriptor.practiceAccount.password !== 'string') {
    return 'its descriptor needs a practiceAccount {login, password}';
  }
  const missing = AUTOMATION_METHODS.find((method) => typeof (automation as unknown as Record<string, unknown> | undefined)?.[method] !== 'function');
  if (missing) return `its automation has no ${missing}()`;
  if (practicePortal !== undefined && typeof practicePortal !== 'function') return 'its practicePortal is not a function';
  return undefined;
}

/**
 * Loads provider plugins (RPA_PROVIDER_MODULES: absolute paths of compiled modules, each
 * default-exporting a ProviderModule) and registers them. Call it before the configuration is
 * built, in every process that builds one (the start-up, each sandboxed batch child). A module
 * that cannot be loaded, or does not look like a provider, stops start-up with CONFIG_INVALID.
 */
export async function loadProviderModules(paths: readonly string[]): Promise<ProviderModule[]> {
  const loaded: ProviderModule[] = [];
  for (const path of paths) {
    const fail = (why: string, cause?: unknown) =>
      new RpaError('CONFIG_INVALID', `RPA_PROVIDER_MODULES: ${path}: ${why}`, { field: 'RPA_PROVIDER_MODULES', cause });
    if (!isAbsolute(path)) throw fail('must be an absolute path');
    let imported: { default?: unknown };
    try {
      imported = (await import(pathToFileURL(path).href)) as { default?: unknown };
    } catch (thrown) {
      throw fail(`could not be loaded (${thrown instanceof Error ? thrown.message.split('\n')[0] : String(thrown)})`, thrown);
    }
    const why = shapeError(imported.default);
    if (why) throw fail(why);
    const module = imported.default as ProviderModule;
    try {
      registerProvider(module);
    } catch (thrown) {
      throw isRpaError(thrown) ? fail(thrown.message, thrown) : thrown;
    }
    loaded.push(module);
  }
  return loaded;
}
