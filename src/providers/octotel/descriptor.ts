import type { ProviderDescriptor } from '../provider.js';

export const octotelDescriptor: ProviderDescriptor = {
  name: 'octotel',
  label: 'Octotel',
  circuitPattern: /^OCT\d{6}$/,
  referencePrefix: 'OCT',
  loginField: 'username',
  needsTotp: true,
  practiceAccount: { login: 'rpa.octotel', password: 'Practice-Octotel-1', totpSecret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP' },
  pages: {
    perSession: 4,
    why: 'measured on the practice portal (bench/pages-per-session.ts, docs/bench-pages-per-session.md): server-rendered pages, no per-page state; every cancellation right at 1–8 pages; 1.85× faster at 4, uneven beyond on a 2-core machine',
  },
};
