import type { ProviderDescriptor } from '../provider.js';

export const openserveDescriptor: ProviderDescriptor = {
  name: 'openserve',
  label: 'Openserve',
  circuitPattern: /^OSN\d{7}$/,
  referencePrefix: 'OSN',
  loginField: 'email',
  needsTotp: false,
  practiceAccount: { login: 'rpa@openserve.test', password: 'Practice-Openserve-1' },
  pages: {
    perSession: 4,
    why: 'measured on the practice portal (bench/pages-per-session.ts, docs/bench-pages-per-session.md): each page is its own copy of the app over the same cookie session; every cancellation right at 1–8 pages, time per job falls the most of the four up to 4',
  },
};
