import type { Express, Request, Response } from 'express';
import { isCancelReason, isCancellable, type Circuit, type CircuitStatus } from '../core/circuit.js';
import { clearCookie, readCookie, setCookie } from '../core/cookies.js';
import { completeSignIn } from '../core/sign-in.js';
import { bodyField, queryField } from '../core/form-fields.js';
import { documentPage, html, type SafeHtml } from '../core/html.js';
import { effectiveDateError, formatIsoDate, parseIsoDate, todayLocal } from '../core/local-date.js';
import { EVOTEL_CIRCUITS } from '../core/contract.js';
import { loseCancelAnswer } from '../core/answer-faults.js';
import { driftable } from '../core/drift.js';
import { createPortalApp, unavailableHtml } from '../core/portal-app.js';
import { PortalState } from '../core/portal-state.js';
import { reasonOptions } from '../core/reason-options.js';
import { currentSession, optionalSession, sessionGuard } from '../core/session-guard.js';
import { PreAuthStore } from '../core/session-store.js';
import type { PracticeAccount } from '../core/practice-account.js';

/** Session cookie (SPEC.md: names differ per portal, since browsers share cookies between ports). */
export const EVOTEL_SESSION_COOKIE = 'evotel_auth';
/** Holds the accepted username between the username and the password step. */
export const EVOTEL_PREAUTH_COOKIE = 'evotel_login';
const PREAUTH_TTL_S = 300;
const SEARCH_TYPES = ['address', 'customer', 'circuit'] as const;
type SearchType = (typeof SEARCH_TYPES)[number];

const TITLE: Record<CircuitStatus, string> = { active: 'Active', pending: 'Pending', suspended: 'Suspended', cancelled: 'Cancelled' };

function page(title: string, body: SafeHtml, user?: string): string {
  const header = user
    ? html`<nav class="top-nav"><span class="user-name">${user}</span> <a id="nav-services" href="/services">Services</a> <a id="sign-out" href="/account/logout">Sign out</a></nav>`
    : '';
  return documentPage(`Evotel Connect - ${title}`, html`<header><h1>Evotel Connect</h1>${header}</header><main>${body}</main>`);
}

function usernamePage(options: { error?: string; info?: string; username?: string } = {}): string {
  return page(
    'Sign in',
    html`<h2>Sign in</h2>
${options.info ? html`<div class="session-timeout">${options.info}</div>` : ''}
${options.error ? html`<div class="validation-error">${options.error}</div>` : ''}
<form id="step-username" method="post" action="/account/login">
<label for="username">Username</label> <input id="username" name="username" type="text" autocomplete="username" value="${options.username ?? ''}">
<button id="next" type="submit">Next</button>
</form>`,
  );
}

function passwordPage(username: string, error?: string): string {
  return page(
    'Sign in',
    html`<h2>Sign in</h2>
<p class="signing-in-as">Signing in as <strong>${username}</strong> (<a href="/account/login">not you?</a>)</p>
${error ? html`<div class="validation-error">${error}</div>` : ''}
<form id="step-password" method="post" action="/account/password">
<label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password">
<button id="signin" type="submit">Sign in</button>
</form>`,
  );
}

function serviceItem(circuit: Circuit): SafeHtml {
  const fields = (['customer', 'address', 'speed'] as const).map(
    (name) => html`<div class="field" data-name="${name}"><span class="label">${name[0]!.toUpperCase() + name.slice(1)}</span> <span class="value">${circuit[name]}</span></div>`,
  );
  return html`<div class="service-item" data-circuit="${circuit.circuitNumber}">
<h3>${circuit.circuitNumber}</h3>
<div class="field" data-name="status"><span class="label">Status</span> <span class="value">${TITLE[circuit.status]}</span></div>
${fields}
${circuit.reference ? html`<p>Ticket: <span class="ticket-ref">${circuit.reference}</span></p>` : ''}
${isCancellable(circuit) ? html`<a class="request-cancel" href="/services/${circuit.circuitNumber}/cancel">Request cancellation</a>` : ''}
</div>`;
}

function searchForm(type: SearchType, query: string): SafeHtml {
  return html`<form id="service-search" method="get" action="/services">
<label for="search-type">Search by</label>
<select id="search-type" name="type">${SEARCH_TYPES.map((t) => html`<option value="${t}"${t === type ? html` selected` : ''}>${t[0]!.toUpperCase() + t.slice(1)}</option>`)}</select>
<input id="query" name="query" type="text" value="${query}">
<button id="go" type="submit">Go</button>
</form>`;
}

function cancelForm(circuit: Circuit, values: { reason?: string; effectiveDate?: string; comment?: string; error?: string } = {}): SafeHtml {
  return html`<h2>Request cancellation of ${circuit.circuitNumber}</h2>
${values.error ? html`<div class="validation-error">${values.error}</div>` : ''}
<form id="cancel-request" method="post" action="/services/${circuit.circuitNumber}/cancel">
<label for="reason">Reason</label> <select id="reason" name="reason">${reasonOptions(values.reason)}</select>
<label for="effective_date">Effective date (YYYY-MM-DD)</label> <input id="effective_date" name="effective_date" type="text" placeholder="YYYY-MM-DD" value="${values.effectiveDate ?? formatIsoDate(todayLocal())}">
<label for="comment">Comment</label> <textarea id="comment" name="comment">${values.comment ?? ''}</textarea>
<button id="send" type="submit">Send request</button>
</form>`;
}

/** The Evotel practice portal (SPEC.md "Evotel"): two-step sign-in, cancellation as a ticket. */
export function createEvotelPortal(account: PracticeAccount): { app: Express; state: PortalState } {
  const state = new PortalState('evotel', EVOTEL_CIRCUITS);
  const preAuths = new PreAuthStore<{ username: string }>(PREAUTH_TTL_S * 1000);
  state.onReset(() => preAuths.clear());

  const expired = (_req: Request, res: Response) => res.redirect(302, '/account/login?timeout=1');
  const guard = sessionGuard(state, EVOTEL_SESSION_COOKIE, expired);

  const circuitError = (res: Response, kind: 'invalid' | 'not_found', user: string) => {
    const body = kind === 'invalid' ? html`<div class="validation-error">Invalid circuit number</div>` : html`<div id="empty">No services found</div>`;
    res.status(kind === 'invalid' ? 400 : 404).type('html').send(page('Service', driftable(state, body), user));
  };

  const app = createPortalApp(state, (app) => {
    app.get('/', (req, res) => {
      res.redirect(302, optionalSession(state, req, EVOTEL_SESSION_COOKIE) ? '/services' : '/account/login');
    });

    app.get('/account/login', (req, res) => {
      res.type('html').send(usernamePage({ info: queryField(req, 'timeout') === '1' ? 'Your session timed out. Please sign in again.' : undefined }));
    });

    app.post('/account/login', (req, res) => {
      const username = (bodyField(req, 'username') ?? '').trim();
      if (username !== account.login) {
        state.stats.logins_failed++;
        res.type('html').send(usernamePage({ error: 'We could not find that username', username }));
        return;
      }
      preAuths.delete(readCookie(req, EVOTEL_PREAUTH_COOKIE));
      setCookie(res, EVOTEL_PREAUTH_COOKIE, preAuths.create({ username }), PREAUTH_TTL_S);
      res.redirect(302, '/account/password');
    });

    app.get('/account/password', (req, res) => {
      const preAuth = preAuths.get(readCookie(req, EVOTEL_PREAUTH_COOKIE));
      if (!preAuth) {
        res.redirect(302, '/account/login');
        return;
      }
      res.type('html').send(passwordPage(preAuth.username));
    });

    app.post('/account/password', async (req, res) => {
      const preAuthId = readCookie(req, EVOTEL_PREAUTH_COOKIE);
      const preAuth = preAuths.get(preAuthId);
      if (!preAuth) {
        res.redirect(302, '/account/login');
        return;
      }
      if (bodyField(req, 'password') !== account.password) {
        state.stats.logins_failed++;
        res.type('html').send(passwordPage(preAuth.username, 'Incorrect password'));
        return;
      }
      if (!state.hasSessionRoom()) {
        state.stats.logins_failed++;
        res.type('html').send(passwordPage(preAuth.username, 'Too many active sessions'));
        return;
      }
      preAuths.delete(preAuthId);
      await completeSignIn(state, res, preAuth.username, { session: EVOTEL_SESSION_COOKIE, preAuth: EVOTEL_PREAUTH_COOKIE }, '/services');
    });

    app.get('/account/logout', (req, res) => {
      state.sessions.destroy(readCookie(req, EVOTEL_SESSION_COOKIE));
      clearCookie(res, EVOTEL_SESSION_COOKIE);
      res.redirect(302, '/account/login');
    });

    app.get('/services', guard, (req, res) => {
      const user = currentSession(res).login;
      const rawType = queryField(req, 'type');
      const query = (queryField(req, 'query') ?? '').trim();
      const type = (SEARCH_TYPES as readonly string[]).includes(rawType ?? '') ? (rawType as SearchType) : 'address';
      let result: SafeHtml = html``;
      if (rawType !== undefined && rawType !== type) {
        result = html`<div class="validation-error">Unknown search type</div>`;
      } else if (query) {
        if (type === 'circuit') {
          const found = state.circuits.lookup(query);
          if (found.kind === 'invalid') result = html`<div class="validation-error">Invalid circuit number</div>`;
          else if (found.kind === 'not_found') result = html`<div id="empty">No services found</div>`;
          else result = html`<div class="service-list">${serviceItem(found.circuit)}</div>`;
        } else {
          // Address and customer searches look only at seeded circuits (derived ones are endless);
          // a circuit number is never an address or a customer name.
          const matches = state.circuits.isValidNumber(query) ? [] : state.circuits.searchSeeded(type, query);
          result = matches.length ? html`<div class="service-list">${matches.map(serviceItem)}</div>` : html`<div id="empty">No services found</div>`;
        }
      }
      res.type('html').send(page('Services', html`<h2>Services</h2>${searchForm(type, query)}${driftable(state, result)}`, user));
    });

    app.get('/services/:number/cancel', guard, (req, res) => {
      const user = currentSession(res).login;
      const found = state.circuits.lookup(String(req.params.number));
      if (found.kind !== 'found') return circuitError(res, found.kind, user);
      res.type('html').send(page('Request cancellation', driftable(state, cancelForm(found.circuit)), user));
    });

    app.post('/services/:number/cancel', guard, (req, res) => {
      const user = currentSession(res).login;
      const found = state.circuits.lookup(String(req.params.number));
      if (found.kind !== 'found') return circuitError(res, found.kind, user);
      const circuit = found.circuit;
      if (circuit.status === 'cancelled') {
        state.stats.duplicate_cancel_attempts++;
        res.type('html').send(
          page(
            'Request cancellation',
            driftable(state, html`<div id="ticket-exists">A cancellation ticket already exists for ${circuit.circuitNumber}: <span id="ticket-number">${circuit.reference}</span></div>`),
            user,
          ),
        );
        return;
      }
      const reason = bodyField(req, 'reason');
      const effectiveDate = bodyField(req, 'effective_date');
      const comment = bodyField(req, 'comment');
      const error = !isCancelReason(reason) ? 'Please choose a reason' : effectiveDateError(effectiveDate, parseIsoDate, 'YYYY-MM-DD');
      if (error) {
        res.type('html').send(page('Request cancellation', driftable(state, cancelForm(circuit, { reason, effectiveDate, comment, error })), user));
        return;
      }
      const outcome = state.circuits.cancel(circuit.circuitNumber);
      if (outcome.kind !== 'cancelled') throw new Error(`unexpected cancel outcome ${outcome.kind}`);
      state.stats.countCancellation(circuit.circuitNumber);
      if (loseCancelAnswer(state.answerFaults, req, res, unavailableHtml)) return;
      res.type('html').send(
        page(
          'Ticket created',
          driftable(state, html`<div id="ticket">Your cancellation request for ${circuit.circuitNumber} was logged as ticket <span id="ticket-number">${outcome.circuit.reference}</span>.</div>`),
          user,
        ),
      );
    });
  });
  return { app, state };
}
