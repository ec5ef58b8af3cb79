import type { ProviderDescriptor } from '../provider.js';

export const metrofiberDescriptor: ProviderDescriptor = {
  name: 'metrofiber',
  label: 'MetroFiber',
  circuitPattern: /^MFN-\d{4}-\d{4}$/,
  referencePrefix: 'MFN',
  loginField: 'email',
  needsTotp: false,
  practiceAccount: { login: 'rpa@metrofiber.test', password: 'Practice-MetroFiber-1' },
  pages: {
    perSession: 4,
    why: 'measured on the practice portal (bench/pages-per-session.ts, docs/bench-pages-per-session.md): CSRF tokens are bound to the page that served them and the session, so pages with different circuits do not spoil each other’s; every cancellation right at 1–8 pages',
  },
};
