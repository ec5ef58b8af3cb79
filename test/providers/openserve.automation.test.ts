import { OpenserveAutomation } from '../../src/providers/openserve/automation.js';
import { describeProviderAutomation } from './provider-automation-suite.js';

describeProviderAutomation({
  automation: new OpenserveAutomation(),
  digitCount: 7,
  circuit: (digits) => `OSN${digits}`,
  portalInvalidNumber: 'OSN12',
  withDescriptor: (descriptor) => new OpenserveAutomation(descriptor),
});
