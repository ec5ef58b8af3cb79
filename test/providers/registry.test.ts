import { expect } from 'chai';
import { isRpaError } from '../../src/errors/failures.js';
import { providerDescriptors } from '../../src/providers/descriptors.js';
import { automationFor, automations } from '../../src/providers/registry.js';

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
