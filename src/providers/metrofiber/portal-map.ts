import type { PortalMap } from '../form-portal/portal-map.js';
import { acknowledgeNotice } from './notice-detour.js';

/** A refusal of a form's CSRF token: the form is loaded again, so the token is a fresh one. */
const STALE_TOKEN = /invalid request token/i;

/**
 * MetroFiber's pages (SPEC.md "MetroFiber"): legacy forms, each POST carrying the page-bound
 * `csrf_token` of the form the portal served (the robot always submits that form), dates as
 * DD/MM/YYYY, the circuit number typed again to confirm, and a portal-wide notice page.
 */
export const metrofiberPortal: PortalMap = {
  signInPages: ['/index.php?page=login'],
  login: {
    word: 'login',
    steps: [
      {
        kind: 'form',
        name: 'login',
        open: '/index.php?page=login',
        form: 'form[name=loginForm]',
        fill: { 'input[name=email]': 'login', 'input[name=password]': 'password' },
        submit: 'input[type=submit][value=Login]',
        accepted: { path: '/index.php?page=home' },
        refused: 'div.error',
        retryWhen: STALE_TOKEN,
      },
    ],
  },
  search: {
    open: { path: '/index.php?page=search&circuit={circuit}' },
    result: 'table.data-grid tr.data-row',
    // Cells in the contract's order: Circuit, Status, Customer, Address, Speed, Action.
    fields: {
      circuit: ':scope > td:nth-child(1)',
      status: ':scope > td:nth-child(2)',
      customer: ':scope > td:nth-child(3)',
      address: ':scope > td:nth-child(4)',
      speed: ':scope > td:nth-child(5)',
    },
    reference: { inResult: ':scope > td:nth-child(6) span.ref' },
    notFound: 'td.no-data',
    invalid: { selector: 'div.error', text: /invalid circuit number/i },
    rendering: 'server',
  },
  cancel: {
    open: { path: '/index.php?page=cancel&circuit={circuit}' },
    form: 'form#cancelForm',
    reason: 'select[name=reason]',
    effectiveDate: { selector: 'input[name=effective_date]', format: 'DD/MM/YYYY' },
    repeatCircuit: ['input[name=confirm_text]'],
    submit: 'input[type=submit][name=submit_cancel]',
    confirmed: { selector: 'div.success', reference: { selector: 'span.ref' } },
    already: { selector: 'div.warning', reference: { selector: 'span.ref' } },
    refused: 'div.error',
    retryWhen: STALE_TOKEN,
  },
  logout: { method: 'GET', path: '/index.php?page=logout' },
  probeCircuit: 'MFN-0000-0001',
  hooks: { detour: acknowledgeNotice },
};
