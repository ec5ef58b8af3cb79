import type { Express, Request, Response } from 'express';
import { isCancelReason, isCancellable, type Circuit } from '../core/circuit.js';
import { clearCookie, readCookie, setCookie } from '../core/cookies.js';
import { completeSignIn } from '../core/sign-in.js';
import { bodyField, queryField } from '../core/form-fields.js';
import { documentPage, html, type SafeHtml } from '../core/html.js';
import { effectiveDateError, formatIsoDate, parseIsoDate, todayLocal } from '../core/local-date.js';
import { OCTOTEL_CIRCUITS } from '../core/contract.js';
import { driftable } from '../core/drift.js';
import { loseCancelAnswer } from '../core/answer-faults.js';
import { createPortalApp, unavailableHtml } from '../core/portal-app.js';
import { PortalState } from '../core/portal-state.js';
import { reasonOptions } from '../core/reason-options.js';
import { currentSession, optionalSession, sessionGuard } from '../core/session-guard.js';
import { PreAuthStore } from '../core/session-store.js';
import { TotpVerifier } from '../core/totp.js';
import type { PracticeAccount } from '../core/practice-account.js';

/** Session cookie (SPEC.md: names differ per portal, since browsers share cookies between ports). */
export const OCTOTEL_SESSION_COOKIE = 'octotel_session';
/** Holds the 120 s pre-auth between the password and the OTP step. */
export const OCTOTEL_PREAUTH_COOKIE = 'octotel_preauth';
const PREAUTH_TTL_S = 120;
const MAX_OTP_REFUSALS = 3;

interface PreAuth {
  login: string;
  refusals: number;
}

function page(title: string, body: SafeHtml): string {
  return documentPage(`Octotel Partner Portal - ${title}`, html`<header><h1>Octotel Partner Portal</h1></header><main>${body}</main>`);
}

function nav(username: string): SafeHtml {
  return html`<nav>Signed in as <span id="current-user">${username}</span> |
<a id="nav-dashboard" href="/dashboard">Dashboard</a> | <a id="nav-circuits" href="/circuits">Circuits</a> | <a id="logout" href="/logout">Log out</a></nav>`;
}

function loginPage(options: { error?: string; info?: string; username?: string }): string {
  return page(
    'Sign in',
    html`<h2>Sign in</h2>
${options.info ? html`<div class="alert-info">${options.info}</div>` : ''}
${options.error ? html`<div class="alert-error">${options.error}</div>` : ''}
<form id="login-form" method="post" action="/login">
<label for="username">Username</label> <input id="username" name="username" type="text" autocomplete="username" value="${options.username ?? ''}">
<label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password">
<button id="login-btn" type="submit">Sign in</button>
</form>`,
  );
}

function otpPage(error?: string): string {
  return page(
    'Verification',
    html`<h2>Two-factor verification</h2>
<p>Enter the 6-digit code from your authenticator app.</p>
${error ? html`<div class="alert-error">${error}</div>` : ''}
<form id="otp-form" method="post" action="/login/otp">
<label for="otp">Code</label> <input id="otp" name="otp" type="text" inputmode="numeric" autocomplete="one-time-code" maxlength="6">
<button id="verify-btn" type="submit">Verify</button>
</form>`,
  );
}

function resultsTable(circuit: Circuit): SafeHtml {
  return html`<table id="results">
<thead><tr><th>Circuit</th><th>Status</th><th>Customer</th><th>Address</th><th>Speed</th><th></th></tr></thead>
<tbody><tr class="result-row"><td class="circuit">${circuit.circuitNumber}</td><td class="status">${circuit.status}</td><td class="customer">${circuit.customer}</td><td class="address">${circuit.address}</td><td class="speed">${circuit.speed}</td><td><a class="view-link" href="/circuits/${circuit.circuitNumber}">View</a></td></tr></tbody>
</table>`;
}

function detailList(circuit: Circuit): SafeHtml {
  return html`<dl id="circuit-detail">
<dt>Circuit</dt><dd id="detail-circuit">${circuit.circuitNumber}</dd>
<dt>Status</dt><dd id="detail-status">${circuit.status}</dd>
<dt>Customer</dt><dd id="detail-customer">${circuit.customer}</dd>
<dt>Address</dt><dd id="detail-address">${circuit.address}</dd>
<dt>Speed</dt><dd id="detail-speed">${circuit.speed}</dd>
${circuit.reference ? html`<dt>Cancellation reference</dt><dd id="detail-cancel-ref">${circuit.reference}</dd>` : ''}
</dl>
${isCancellable(circuit) ? html`<p><a id="cancel-link" href="/circuits/${circuit.circuitNumber}/cancel">Cancel this circuit</a></p>` : ''}`;
}

function cancelForm(circuit: Circuit, values: { reason?: string; effectiveDate?: string; error?: string } = {}): SafeHtml {
  return html`<h2>Cancel circuit ${circuit.circuitNumber}</h2>
${values.error ? html`<div class="alert-error">${values.error}</div>` : ''}
<form id="cancel-form" method="post" action="/circuits/${circuit.circuitNumber}/cancel">
<label for="reason">Reason</label> <select id="reason" name="reason">${reasonOptions(values.reason)}</select>
<label for="effective-date">Effective date (YYYY-MM-DD)</label> <input id="effective-date" name="effective_date" type="text" placeholder="YYYY-MM-DD" value="${values.effectiveDate ?? formatIsoDate(todayLocal())}">
<label><input id="confirm" name="confirm" type="checkbox" value="yes"> I confirm this cancellation</label>
<button id="submit-cancel" type="submit">Submit cancellation</button>
</form>`;
}

/** The Octotel practice portal (SPEC.md "Octotel"): server-rendered pages, TOTP second factor. */
export function createOctotelPortal(account: PracticeAccount): { app: Express; state: PortalState } {
  if (!account.totpSecret) throw new Error('the Octotel practice account needs a TOTP secret');
  const state = new PortalState('octotel', OCTOTEL_CIRCUITS);
  const totp = new TotpVerifier(account.totpSecret);
  const preAuths = new PreAuthStore<PreAuth>(PREAUTH_TTL_S * 1000);
  state.onReset(() => {
    totp.clear();
    preAuths.clear();
  });

  const expired = (_req: Request, res: Response) => res.redirect(302, '/login?expired=1');
  const guard = sessionGuard(state, OCTOTEL_SESSION_COOKIE, expired);

  const sendCircuitError = (res: Response, kind: 'invalid' | 'not_found', username: string) => {
    const body =
      kind === 'invalid'
        ? html`<div class="alert-error">Invalid circuit number</div>`
        : html`<p id="no-results">No circuits match</p>`;
    res.status(kind === 'invalid' ? 400 : 404).type('html').send(page('Circuit', html`${nav(username)}${driftable(state, body)}`));
  };

  const app = createPortalApp(state, (app) => {
    app.get('/', (req, res) => {
      res.redirect(302, optionalSession(state, req, OCTOTEL_SESSION_COOKIE) ? '/dashboard' : '/login');
    });

    app.get('/login', (req, res) => {
      res.type('html').send(loginPage({ info: queryField(req, 'expired') === '1' ? 'Your session has expired' : undefined }));
    });

    app.post('/login', (req, res) => {
      const username = bodyField(req, 'username') ?? '';
      const password = bodyField(req, 'password') ?? '';
      if (username !== account.login || password !== account.password) {
        state.stats.logins_failed++;
        res.type('html').send(loginPage({ error: 'Invalid username or password', username }));
        return;
      }
      if (!state.hasSessionRoom()) {
        state.stats.logins_failed++;
        res.type('html').send(loginPage({ error: 'Too many active sessions', username }));
        return;
      }
      preAuths.delete(readCookie(req, OCTOTEL_PREAUTH_COOKIE));
      setCookie(res, OCTOTEL_PREAUTH_COOKIE, preAuths.create({ login: username, refusals: 0 }), PREAUTH_TTL_S);
      res.redirect(302, '/login/otp');
    });

    app.get('/login/otp', (req, res) => {
      if (!preAuths.get(readCookie(req, OCTOTEL_PREAUTH_COOKIE))) {
        res.redirect(302, '/login');
        return;
      }
      res.type('html').send(otpPage());
    });

    app.post('/login/otp', async (req, res) => {
      const preAuthId = readCookie(req, OCTOTEL_PREAUTH_COOKIE);
      const preAuth = preAuths.get(preAuthId);
      if (!preAuth) {
        res.redirect(302, '/login');
        return;
      }
      // Checked before the code so a refused login does not spend a TOTP step.
      if (!state.hasSessionRoom()) {
        state.stats.logins_failed++;
        res.type('html').send(otpPage('Too many active sessions'));
        return;
      }
      const check = totp.verify(bodyField(req, 'otp') ?? '', state.config.totp_window);
      if (check.kind !== 'ok') {
        if (check.kind === 'reused') state.stats.totp_rejected_reused++;
        else state.stats.totp_rejected_invalid++;
        preAuth.refusals++;
        if (preAuth.refusals >= MAX_OTP_REFUSALS) {
          preAuths.delete(preAuthId);
          clearCookie(res, OCTOTEL_PREAUTH_COOKIE);
          res.redirect(302, '/login');
          return;
        }
        res.type('html').send(otpPage(check.kind === 'reused' ? 'This code has already been used' : 'Invalid verification code'));
        return;
      }
      state.stats.totp_ok++;
      preAuths.delete(preAuthId);
      await completeSignIn(state, res, preAuth.login, { session: OCTOTEL_SESSION_COOKIE, preAuth: OCTOTEL_PREAUTH_COOKIE }, '/dashboard');
    });

    app.get('/logout', (req, res) => {
      state.sessions.destroy(readCookie(req, OCTOTEL_SESSION_COOKIE));
      clearCookie(res, OCTOTEL_SESSION_COOKIE);
      res.redirect(302, '/login');
    });

    app.get('/dashboard', guard, (_req, res) => {
      const user = currentSession(res).login;
      res.type('html').send(page('Dashboard', html`${nav(user)}<h2>Dashboard</h2><p>Welcome, ${user}.</p>`));
    });

    app.get('/circuits', guard, (req, res) => {
      const user = currentSession(res).login;
      const q = (queryField(req, 'q') ?? '').trim();
      let result: SafeHtml = html``;
      if (q) {
        const found = state.circuits.lookup(q);
        if (found.kind === 'invalid') result = html`<div class="alert-error">Invalid circuit number</div>`;
        else if (found.kind === 'not_found') result = html`<p id="no-results">No circuits match</p>`;
        else result = resultsTable(found.circuit);
      }
      res.type('html').send(
        page(
          'Circuits',
          html`${nav(user)}<h2>Circuits</h2>
<form id="search-form" method="get" action="/circuits">
<label for="q">Circuit number</label> <input id="q" name="q" type="text" value="${q}">
<button id="search-btn" type="submit">Search</button>
</form>
${driftable(state, result)}`,
        ),
      );
    });

    app.get('/circuits/:number', guard, (req, res) => {
      const user = currentSession(res).login;
      const found = state.circuits.lookup(String(req.params.number));
      if (found.kind !== 'found') return sendCircuitError(res, found.kind, user);
      res.type('html').send(page('Circuit', html`${nav(user)}${driftable(state, html`<h2>Circuit ${found.circuit.circuitNumber}</h2>${detailList(found.circuit)}`)}`));
    });

    app.get('/circuits/:number/cancel', guard, (req, res) => {
      const user = currentSession(res).login;
      const found = state.circuits.lookup(String(req.params.number));
      if (found.kind !== 'found') return sendCircuitError(res, found.kind, user);
      res.type('html').send(page('Cancel circuit', html`${nav(user)}${driftable(state, cancelForm(found.circuit))}`));
    });

    app.post('/circuits/:number/cancel', guard, (req, res) => {
      const user = currentSession(res).login;
      const found = state.circuits.lookup(String(req.params.number));
      if (found.kind !== 'found') return sendCircuitError(res, found.kind, user);
      const circuit = found.circuit;
      if (circuit.status === 'cancelled') {
        state.stats.duplicate_cancel_attempts++;
        res.type('html').send(
          page(
            'Cancel circuit',
            html`${nav(user)}${driftable(state, html`<div class="alert-info">Circuit already cancelled. Reference: <span id="cancel-ref">${circuit.reference}</span></div>`)}`,
          ),
        );
        return;
      }
      const reason = bodyField(req, 'reason');
      const effectiveDate = bodyField(req, 'effective_date');
      const error = !isCancelReason(reason)
        ? 'Please choose a cancellation reason'
        : !bodyField(req, 'confirm')
          ? 'Please confirm the cancellation'
          : effectiveDateError(effectiveDate, parseIsoDate, 'YYYY-MM-DD');
      if (error) {
        res.type('html').send(page('Cancel circuit', html`${nav(user)}${driftable(state, cancelForm(circuit, { reason, effectiveDate, error }))}`));
        return;
      }
      const outcome = state.circuits.cancel(circuit.circuitNumber);
      if (outcome.kind !== 'cancelled') throw new Error(`unexpected cancel outcome ${outcome.kind}`);
      state.stats.countCancellation(circuit.circuitNumber);
      if (loseCancelAnswer(state.answerFaults, req, res, unavailableHtml)) return;
      res.type('html').send(
        page(
          'Cancellation submitted',
          html`${nav(user)}${driftable(
            state,
            html`<div id="cancel-success">Cancellation submitted for ${circuit.circuitNumber}. Reference: <span id="cancel-ref">${outcome.circuit.reference}</span></div>
<p><a href="/circuits/${circuit.circuitNumber}">Back to circuit</a></p>`,
          )}`,
        ),
      );
    });
  });
  return { app, state };
}
