import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { isRpaError } from '../../src/errors/failures.js';
import { providerDescriptors, providerNames } from '../../src/providers/descriptors.js';
import { FormPortalAutomation } from '../../src/providers/form-portal/form-portal-automation.js';
import octotel from '../../src/providers/octotel/index.js';
import { octotelPortal } from '../../src/providers/octotel/portal-map.js';
import { loadProviderModules } from '../../src/providers/provider-plugins.js';
import { automationFor, automations, registerProvider } from '../../src/providers/registry.js';

describe('provider registry', () => {
  it('has exactly one automation per descriptor, sharing its descriptor', () => {
    expect(automations().map((a) => a.descriptor.name)).to.deep.equal(providerDescriptors().map((d) => d.name));
    for (const descriptor of providerDescriptors()) {
      expect(automationFor(descriptor.name).descriptor).to.equal(descriptor);
    }
  });

  it('refuses an unknown provider with NOT_FOUND', () => {
    try {
      automationFor('telkom');
      expect.fail('expected automationFor to throw');
    } catch (thrown) {
      expect(isRpaError(thrown, 'NOT_FOUND')).to.equal(true);
      expect((thrown as Error).message).to.contain('octotel');
    }
  });
});

describe('provider registration', () => {
  it('takes a module registered already again without a change, refuses another one under a known name and bad names', () => {
    const before = providerNames();
    registerProvider(octotel);
    expect(providerNames()).to.deep.equal(before);
    const impostor = { ...octotel, automation: new FormPortalAutomation(octotel.descriptor, octotelPortal) };
    expect(() => registerProvider(impostor)).to.throw(/registered already/);
    const badName = { ...octotel.descriptor, name: 'Bad_Name' };
    expect(() => registerProvider({ descriptor: badName, automation: new FormPortalAutomation(badName, octotelPortal) })).to.throw(/lower-case/);
    const otherName = { ...octotel.descriptor, name: 'acme' };
    expect(() => registerProvider({ descriptor: otherName, automation: octotel.automation })).to.throw(/built for "octotel"/);
    expect(providerNames()).to.deep.equal(before);
  });

  it('refuses plugin paths that are relative, missing or not a provider module with CONFIG_INVALID naming RPA_PROVIDER_MODULES', async () => {
    const notAProvider = fileURLToPath(new URL('../../src/providers/octotel/descriptor.js', import.meta.url));
    for (const [path, why] of [
      ['dist/x.js', /absolute path/],
      ['/nonexistent/provider.js', /could not be loaded/],
      [notAProvider, /not a provider module/],
    ] as const) {
      const error = await loadProviderModules([path]).then(
        () => expect.fail(`${path} was loaded`),
        (thrown: unknown) => thrown,
      );
      expect(isRpaError(error, 'CONFIG_INVALID'), String(error)).to.equal(true);
      expect((error as Error).message).to.contain('RPA_PROVIDER_MODULES').and.match(why);
    }
    expect(providerNames()).to.deep.equal(['octotel', 'openserve', 'metrofiber', 'evotel']);
  });
});
