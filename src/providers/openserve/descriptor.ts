import type { ProviderDescriptor } from '../provider.js';

export const openserveDescriptor: ProviderDescriptor = {
  name: 'openserve',
  label: 'Openserve',
  circuitPattern: /^OSN\d{7}$/,
  referencePrefix: 'OSN',
  loginField: 'email',
  needsTotp: false,
  practiceAccount: { login: 'rpa@openserve.test', password: 'Practice-Openserve-1' },
};
