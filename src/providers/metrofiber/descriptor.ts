import type { ProviderDescriptor } from '../provider.js';

export const metrofiberDescriptor: ProviderDescriptor = {
  name: 'metrofiber',
  label: 'MetroFiber',
  circuitPattern: /^MFN-\d{4}-\d{4}$/,
  referencePrefix: 'MFN',
  loginField: 'email',
  needsTotp: false,
  practiceAccount: { login: 'rpa@metrofiber.test', password: 'Practice-MetroFiber-1' },
};
