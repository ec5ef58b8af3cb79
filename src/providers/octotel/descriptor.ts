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
    why: 'measured on the practice portal (bench/pages-per-session.ts, docs/bench-throughput.md): server-rendered pages, no per-page state; every cancellation right at 1–8 pages, time per job falls to about a third at 4, little beyond on a 2-core machine',
  },
};
