import type { ProviderDescriptor } from '../provider.js';

export const evotelDescriptor: ProviderDescriptor = {
  name: 'evotel',
  label: 'Evotel',
  circuitPattern: /^EVO\d{6}$/,
  referencePrefix: 'EVO',
  loginField: 'username',
  needsTotp: false,
  practiceAccount: { login: 'rpa.evotel', password: 'Practice-Evotel-1' },
};
