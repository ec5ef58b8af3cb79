import type { PortalMap } from '../form-portal/portal-map.js';
import { submitThroughApi } from './api-submit.js';

/**
 * Openserve's pages (SPEC.md "Openserve"): a client-rendered single page over a JSON API.
 * Every search starts from a fresh load of `/app`, so the only outcome on the page is the one
 * this search rendered; the cancel form is a dialog opened from the circuit's card.
 */
export const openservePortal: PortalMap = {
  signInPages: ['/signin'],
  login: {
    word: 'sign-in',
    steps: [
      {
        kind: 'form',
        name: 'sign-in',
        open: '/signin',
        form: 'form[data-testid=signin-form]',
        fill: { 'input[name=email]': 'login', 'input[name=password]': 'password' },
        submit: 'button[type=submit]',
        // Signed in means sent to /app; its script renders later and each search reloads it anyway.
        accepted: { path: '/app', selector: 'input[data-testid=search-input]' },
        refused: '[data-testid=signin-error]',
      },
    ],
  },
  search: {
    open: { page: '/app', input: 'input[data-testid=search-input]', button: 'button[data-testid=search-button]' },
    result: 'div[data-testid=circuit-card]',
    fields: {
      circuit: 'span[data-field=circuit]',
      status: 'span[data-field=status]',
      customer: 'span[data-field=customer]',
      address: 'span[data-field=address]',
      speed: 'span[data-field=speed]',
    },
    reference: { inResult: 'span[data-field=reference]' },
    notFound: 'div[data-testid=not-found]',
    failed: { selector: 'div[data-testid=search-error]', statusAttribute: 'data-status' },
    sessionExpired: 'div[data-testid=session-expired]',
    rendering: 'client',
  },
  cancel: {
    open: { clickInResult: 'button[data-testid=cancel-button]' },
    form: 'div[role=dialog][data-testid=cancel-dialog]',
    reason: 'select[name=reason]',
    effectiveDate: { selector: 'input[name=effectiveDate]', format: 'YYYY-MM-DD' },
    submit: 'button[data-testid=confirm-cancel]',
    confirmed: { selector: 'div[data-testid=toast]', hasText: 'Cancellation submitted:', reference: { after: 'Cancellation submitted:' } },
    already: { selector: 'div[data-testid=toast]', hasText: 'Circuit already cancelled:', reference: { after: 'Circuit already cancelled:' } },
    refused: '[data-testid=cancel-error]',
  },
  logout: { method: 'POST', path: '/signout' },
  probeCircuit: 'OSN0000001',
  hooks: { submitCancel: submitThroughApi },
};
