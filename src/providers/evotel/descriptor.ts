import type { ProviderDescriptor } from '../provider.js';

export const evotelDescriptor: ProviderDescriptor = {
  name: 'evotel',
  label: 'Evotel',
  circuitPattern: /^EVO\d{6}$/,
  referencePrefix: 'EVO',
  loginField: 'username',
  needsTotp: false,
  practiceAccount: { login: 'rpa.evotel', password: 'Practice-Evotel-1' },
  pages: {
    perSession: 4,
    why: 'measured on the practice portal (bench/pages-per-session.ts, docs/bench-pages-per-session.md): server-rendered pages, no per-page state; every cancellation right at 1–8 pages; about 3× faster at 4, slower beyond',
  },
};
