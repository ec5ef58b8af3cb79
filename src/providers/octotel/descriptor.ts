import type { ProviderDescriptor } from '../provider.js';

export const octotelDescriptor: ProviderDescriptor = {
  name: 'octotel',
  label: 'Octotel',
  circuitPattern: /^OCT\d{6}$/,
  referencePrefix: 'OCT',
  loginField: 'username',
  needsTotp: true,
  practiceAccount: { login: 'rpa.octotel', password: 'Practice-Octotel-1', totpSecret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP' },
};
