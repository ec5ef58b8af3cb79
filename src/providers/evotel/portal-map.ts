import type { PortalMap } from '../form-portal/portal-map.js';

/**
 * Evotel's pages (SPEC.md "Evotel"): two-step sign-in, a service search whose type must be
 * `circuit` (the default, address, never finds a circuit number), cancellations filed as
 * tickets whose number is the reference.
 */
export const evotelPortal: PortalMap = {
  signInPages: ['/account/login', '/account/password'],
  login: {
    word: 'sign-in',
    steps: [
      {
        kind: 'form',
        name: 'username',
        open: '/account/login',
        form: 'form#step-username',
        fill: { 'input[name=username]': 'login' },
        submit: 'button#next',
        accepted: { path: '/account/password', selector: 'form#step-password' },
        refused: 'div.validation-error',
      },
      {
        kind: 'form',
        name: 'password',
        form: 'form#step-password',
        fill: { 'input[name=password]': 'password' },
        submit: 'button#signin',
        accepted: { path: '/services', selector: 'form#service-search' },
        refused: 'div.validation-error',
      },
    ],
  },
  search: {
    open: { path: '/services?type=circuit&query={circuit}' },
    result: 'div.service-item[data-circuit={circuit}]',
    fields: {
      status: 'div.field[data-name=status] span.value',
      customer: 'div.field[data-name=customer] span.value',
      address: 'div.field[data-name=address] span.value',
      speed: 'div.field[data-name=speed] span.value',
    },
    reference: { inResult: 'span.ticket-ref' },
    notFound: 'div#empty',
    invalid: { selector: 'div.validation-error' },
    rendering: 'server',
  },
  cancel: {
    open: { path: '/services/{circuit}/cancel' },
    form: 'form#cancel-request',
    reason: 'select[name=reason]',
    effectiveDate: { selector: 'input[name=effective_date]', format: 'YYYY-MM-DD' },
    text: { 'textarea[name=comment]': 'Cancellation requested by the RPA orchestrator.' },
    submit: 'button#send',
    confirmed: { selector: 'div#ticket', reference: { selector: 'span#ticket-number' } },
    already: { selector: 'div#ticket-exists', reference: { selector: 'span#ticket-number' } },
    refused: 'div.validation-error',
  },
  logout: { method: 'GET', path: '/account/logout' },
  probeCircuit: 'EVO000001',
};
