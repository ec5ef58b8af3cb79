import frogfoot from '../fixtures/providers/frogfoot/index.js';
import { frogfootPortal } from '../fixtures/providers/frogfoot/portal-map.js';
import { FormPortalAutomation } from '../../src/providers/form-portal/form-portal-automation.js';
import { describeProviderAutomation } from './provider-automation-suite.js';

// The fixture provider of test/fixtures/providers/frogfoot: a portal map and nothing else.
describeProviderAutomation({
  automation: frogfoot.automation,
  digitCount: 6,
  circuit: (digits) => `FRG${digits}`,
  portalInvalidNumber: 'FRG12',
  withDescriptor: (descriptor) => new FormPortalAutomation(descriptor, frogfootPortal),
  practicePortal: frogfoot.practicePortal,
});
