import type { PortalMap } from '../form-portal/portal-map.js';

/** Octotel's pages (SPEC.md "Octotel"): server-rendered, username + password, then a TOTP code. */
export const octotelPortal: PortalMap = {
  signInPages: ['/login', '/login/otp'],
  login: {
    word: 'login',
    steps: [
      {
        kind: 'form',
        name: 'password',
        open: '/login',
        form: 'form#login-form',
        fill: { 'input#username': 'login', 'input#password': 'password' },
        submit: 'button#login-btn',
        accepted: { path: '/login/otp', selector: 'form#otp-form' },
        refused: 'div.alert-error',
      },
      {
        kind: 'totp',
        name: 'verification code',
        form: 'form#otp-form',
        code: 'input#otp',
        submit: 'button#verify-btn',
        accepted: { path: '/dashboard', selector: 'span#current-user' },
        refused: 'div.alert-error',
        reused: /already been used/i,
        invalid: /invalid verification code/i,
        // Three refusals end the pre-auth: the portal sends the robot back to /login.
        restarted: { path: '/login', selector: 'form#login-form' },
        codes: 3,
      },
    ],
  },
  search: {
    open: { path: '/circuits?q={circuit}' },
    result: 'table#results tbody tr.result-row',
    fields: { circuit: 'td.circuit', status: 'td.status', customer: 'td.customer', address: 'td.address', speed: 'td.speed' },
    reference: { page: '/circuits/{circuit}', selector: 'dl#circuit-detail dd#detail-cancel-ref' },
    notFound: 'p#no-results',
    invalid: { selector: 'div.alert-error' },
    rendering: 'server',
  },
  cancel: {
    open: { path: '/circuits/{circuit}/cancel' },
    form: 'form#cancel-form',
    reason: 'select#reason',
    effectiveDate: { selector: 'input#effective-date', format: 'YYYY-MM-DD' },
    tick: ['input#confirm'],
    submit: 'button#submit-cancel',
    confirmed: { selector: 'div#cancel-success', reference: { selector: 'span#cancel-ref' } },
    already: { selector: 'div.alert-info', reference: { selector: 'span#cancel-ref' } },
    refused: 'div.alert-error',
  },
  logout: { method: 'GET', path: '/logout' },
  probeCircuit: 'OCT000001',
};
