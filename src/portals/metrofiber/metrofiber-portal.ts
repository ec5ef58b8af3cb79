import type { Express, Request, Response } from 'express';
import { isCancelReason, isCancellable, type Circuit } from '../core/circuit.js';
import { clearCookie, readCookie } from '../core/cookies.js';
import { completeSignIn } from '../core/sign-in.js';
import { bodyField, queryField } from '../core/form-fields.js';
import { documentPage, html, type SafeHtml } from '../core/html.js';
import { effectiveDateError, formatDmyDate, parseDmyDate, todayLocal } from '../core/local-date.js';
import { METROFIBER_CIRCUITS } from '../core/contract.js';
import { loseCancelAnswer } from '../core/answer-faults.js';
import { driftable } from '../core/drift.js';
import { createPortalApp, unavailableHtml } from '../core/portal-app.js';
import { PortalState } from '../core/portal-state.js';
import { reasonOptions } from '../core/reason-options.js';
import { optionalSession } from '../core/session-guard.js';
import type { Session } from '../core/session-store.js';
import type { PracticeAccount } from '../core/practice-account.js';
import { CsrfTokens } from './csrf-tokens.js';

/** Session cookie (SPEC.md: names differ per portal, since browsers share cookies between ports). */
export const METROFIBER_SESSION_COOKIE = 'metrofiber_PHPSESSID';
const INVALID_TOKEN = 'Invalid request token';
const LOGIN_URL = '/index.php?page=login';
const HOME_URL = '/index.php?page=home';
const NOTICE_URL = '/index.php?page=notice';
const EXPIRED_URL = '/index.php?page=login&expired=1';

/** The portal-wide notice: none before the first login, then pending until acknowledged. */
type NoticeState = 'not_shown' | 'pending' | 'acknowledged';

function page(title: string, body: SafeHtml, signedIn = false): string {
  const menu = signedIn
    ? html`<div class="menu"><a href="${HOME_URL}">Home</a> | <a href="/index.php?page=search">Search</a> | <a href="/index.php?page=logout">Logout</a></div>`
    : '';
  return documentPage(`MetroFiber Online :: ${title}`, html`<table class="layout" width="100%"><tr><td class="banner"><b>MetroFiber Online</b></td></tr><tr><td>${menu}${body}</td></tr></table>`);
}

/** The MetroFiber practice portal (SPEC.md "MetroFiber"): legacy forms with CSRF tokens and a notice page. */
export function createMetrofiberPortal(account: PracticeAccount): { app: Express; state: PortalState } {
  const state = new PortalState('metrofiber', METROFIBER_CIRCUITS);
  const csrf = new CsrfTokens();
  let notice: NoticeState = 'not_shown';
  state.onReset(() => {
    csrf.rotate();
    notice = 'not_shown';
  });

  const loginPage = (options: { error?: string } = {}) =>
    page(
      'Login',
      html`<h2>Partner Login</h2>
${options.error ? html`<div class="error">${options.error}</div>` : ''}
<form name="loginForm" method="post" action="${LOGIN_URL}">
<input type="hidden" name="csrf_token" value="${csrf.issue('login')}">
<table><tr><td>E-mail:</td><td><input type="text" name="email"></td></tr>
<tr><td>Password:</td><td><input type="password" name="password"></td></tr>
<tr><td></td><td><input type="submit" value="Login"></td></tr></table>
</form>`,
    );

  const noticePage = (session: Session, error?: string) =>
    page(
      'Notice',
      html`<h2>Important notice</h2>
${error ? html`<div class="error">${error}</div>` : ''}
<p class="notice-text">Scheduled maintenance: the portal may be unavailable on Sunday between 02:00 and 04:00. Please acknowledge to continue.</p>
<form id="noticeForm" method="post" action="${NOTICE_URL}">
<input type="hidden" name="csrf_token" value="${csrf.issue('notice', session.id)}">
<button id="acknowledge" type="submit">I acknowledge</button>
</form>`,
      true,
    );

  const searchPage = (query: string, result: SafeHtml) =>
    page(
      'Circuit search',
      html`<h2>Circuit search</h2>
<form id="searchForm" method="get" action="/index.php">
<input type="hidden" name="page" value="search">
Circuit: <input type="text" name="circuit" value="${query}"> <input type="submit" value="Search">
</form>
${driftable(state, result)}`,
      true,
    );

  const gridRow = (c: Circuit) => {
    const action = isCancellable(c)
      ? html`<a href="/index.php?page=cancel&amp;circuit=${c.circuitNumber}">Cancel</a>`
      : c.reference
        ? html`<span class="ref">${c.reference}</span>`
        : '';
    return html`<table class="data-grid" border="1">
<tr><th>Circuit</th><th>Status</th><th>Customer</th><th>Address</th><th>Speed</th><th>Action</th></tr>
<tr class="data-row"><td>${c.circuitNumber}</td><td>${c.status.toUpperCase()}</td><td>${c.customer}</td><td>${c.address}</td><td>${c.speed}</td><td>${action}</td></tr>
</table>`;
  };

  const noRecords = html`<table class="no-data-grid" border="1"><tr><td class="no-data">No records found</td></tr></table>`;

  const cancelPage = (session: Session, c: Circuit, values: { reason?: string; effectiveDate?: string; confirmText?: string; error?: string } = {}) =>
    circuitPage(
      'Cancel circuit',
      html`<h2>Cancel circuit ${c.circuitNumber}</h2>
${values.error ? html`<div class="error">${values.error}</div>` : ''}
<form id="cancelForm" method="post" action="/index.php?page=cancel&amp;circuit=${c.circuitNumber}">
<input type="hidden" name="csrf_token" value="${csrf.issue(`cancel:${c.circuitNumber}`, session.id)}">
<table>
<tr><td>Reason:</td><td><select name="reason">${reasonOptions(values.reason)}</select></td></tr>
<tr><td>Effective date (DD/MM/YYYY):</td><td><input type="text" name="effective_date" value="${values.effectiveDate ?? formatDmyDate(todayLocal())}"></td></tr>
<tr><td>Type the circuit number to confirm:</td><td><input type="text" name="confirm_text" value="${values.confirmText ?? ''}"></td></tr>
<tr><td></td><td><input type="submit" name="submit_cancel" value="Cancel circuit"></td></tr>
</table>
</form>`,
    );

  const send = (res: Response, body: string, status = 200) => res.status(status).type('html').send(body);
  /** A signed-in page about a circuit (search results, cancel forms and their answers): these drift. */
  const circuitPage = (title: string, body: SafeHtml) => page(title, driftable(state, body), true);

  /** The live session, or the expired redirect (undefined then: the response is sent). */
  const requireSession = (req: Request, res: Response): Session | undefined => {
    const session = optionalSession(state, req, METROFIBER_SESSION_COOKIE);
    if (!session) res.redirect(302, EXPIRED_URL);
    return session;
  };

  const handleLogin = async (req: Request, res: Response) => {
    if (req.method === 'GET') return send(res, loginPage({ error: queryField(req, 'expired') === '1' ? 'Session expired' : undefined }));
    if (!csrf.verify(bodyField(req, 'csrf_token'), 'login')) return send(res, loginPage({ error: INVALID_TOKEN }), 403);
    if (bodyField(req, 'email') !== account.login || bodyField(req, 'password') !== account.password) {
      state.stats.logins_failed++;
      return send(res, loginPage({ error: 'Login failed' }));
    }
    if (!state.hasSessionRoom()) {
      state.stats.logins_failed++;
      return send(res, loginPage({ error: 'Too many active sessions' }));
    }
    if (notice === 'not_shown') notice = 'pending';
    await completeSignIn(state, res, account.login, { session: METROFIBER_SESSION_COOKIE }, HOME_URL);
  };

  const handleNotice = (req: Request, res: Response, session: Session) => {
    if (notice !== 'pending') return res.redirect(302, HOME_URL);
    if (req.method === 'GET') return send(res, noticePage(session));
    if (!csrf.verify(bodyField(req, 'csrf_token'), 'notice', session.id)) return send(res, noticePage(session, INVALID_TOKEN), 403);
    notice = 'acknowledged';
    res.redirect(302, HOME_URL);
  };

  const handleSearch = (req: Request, res: Response) => {
    const query = (queryField(req, 'circuit') ?? '').trim();
    if (!query) return send(res, searchPage('', html``));
    const found = state.circuits.lookup(query);
    if (found.kind === 'invalid') return send(res, searchPage(query, html`<div class="error">Invalid circuit number</div>`));
    if (found.kind === 'not_found') return send(res, searchPage(query, noRecords));
    send(res, searchPage(query, gridRow(found.circuit)));
  };

  const handleCancel = (req: Request, res: Response, session: Session) => {
    const number = queryField(req, 'circuit') ?? '';
    const found = state.circuits.lookup(number);
    if (found.kind === 'invalid') return send(res, circuitPage('Cancel circuit', html`<div class="error">Invalid circuit number</div>`), 400);
    if (found.kind === 'not_found') return send(res, circuitPage('Cancel circuit', noRecords), 404);
    const circuit = found.circuit;
    if (req.method === 'GET') return send(res, cancelPage(session, circuit));
    const reason = bodyField(req, 'reason');
    const effectiveDate = bodyField(req, 'effective_date');
    const confirmText = bodyField(req, 'confirm_text');
    if (!csrf.verify(bodyField(req, 'csrf_token'), `cancel:${circuit.circuitNumber}`, session.id)) {
      return send(res, cancelPage(session, circuit, { reason, effectiveDate, confirmText, error: INVALID_TOKEN }), 403);
    }
    if (circuit.status === 'cancelled') {
      state.stats.duplicate_cancel_attempts++;
      return send(
        res,
        circuitPage('Cancel circuit', html`<div class="warning">Circuit ${circuit.circuitNumber} is already cancelled. Reference: <span class="ref">${circuit.reference}</span></div>`),
      );
    }
    const error = !isCancelReason(reason)
      ? 'Please select a reason'
      : (confirmText ?? '').trim() !== circuit.circuitNumber
        ? 'Confirmation text must equal the circuit number'
        : effectiveDateError(effectiveDate, parseDmyDate, 'DD/MM/YYYY');
    if (error) return send(res, cancelPage(session, circuit, { reason, effectiveDate, confirmText, error }));
    const outcome = state.circuits.cancel(circuit.circuitNumber);
    if (outcome.kind !== 'cancelled') throw new Error(`unexpected cancel outcome ${outcome.kind}`);
    state.stats.countCancellation(circuit.circuitNumber);
    if (loseCancelAnswer(state.answerFaults, req, res, unavailableHtml)) return;
    send(res, circuitPage('Cancel circuit', html`<div class="success">Cancellation of ${circuit.circuitNumber} accepted. Reference: <span class="ref">${outcome.circuit.reference}</span></div>`));
  };

  const app = createPortalApp(state, (app) => {
    app.get('/', (req, res) => {
      res.redirect(302, optionalSession(state, req, METROFIBER_SESSION_COOKIE) ? HOME_URL : LOGIN_URL);
    });

    app.all('/index.php', async (req, res, next) => {
      if (req.method !== 'GET' && req.method !== 'POST') return next();
      const name = queryField(req, 'page');
      if (name === undefined) return res.redirect(302, optionalSession(state, req, METROFIBER_SESSION_COOKIE) ? HOME_URL : LOGIN_URL);
      if (name === 'login') return handleLogin(req, res);
      if (name === 'logout') {
        state.sessions.destroy(readCookie(req, METROFIBER_SESSION_COOKIE));
        clearCookie(res, METROFIBER_SESSION_COOKIE);
        return res.redirect(302, LOGIN_URL);
      }
      if (!['home', 'notice', 'search', 'cancel'].includes(name)) return next();
      const session = requireSession(req, res);
      if (!session) return;
      if (name === 'notice') return handleNotice(req, res, session);
      if (notice === 'pending') return res.redirect(302, NOTICE_URL);
      if (name === 'home') {
        if (req.method !== 'GET') return next();
        return send(res, page('Home', html`<h2>Welcome</h2><p>Signed in as <span class="user">${session.login}</span>.</p>`, true));
      }
      if (name === 'search') return req.method === 'GET' ? handleSearch(req, res) : next();
      return handleCancel(req, res, session);
    });
  });
  return { app, state };
}
