import express, { type Express, type Request, type Response } from 'express';
import { isCancelReason, type Circuit } from '../core/circuit.js';
import { clearCookie, readCookie } from '../core/cookies.js';
import { completeSignIn } from '../core/sign-in.js';
import { bodyField, field, queryField } from '../core/form-fields.js';
import { documentPage, html, raw } from '../core/html.js';
import { effectiveDateError, formatIsoDate, parseIsoDate, todayLocal } from '../core/local-date.js';
import { OPENSERVE_CIRCUITS } from '../core/contract.js';
import { loseCancelAnswer } from '../core/answer-faults.js';
import { createPortalApp, UNAVAILABLE_TEXT, unavailableHtml } from '../core/portal-app.js';
import { PortalState } from '../core/portal-state.js';
import { optionalSession, sessionGuard } from '../core/session-guard.js';
import type { PracticeAccount } from '../core/practice-account.js';
import { OPENSERVE_APP_SCRIPT } from './openserve-app-script.js';

/** Session cookie (SPEC.md: names differ per portal, since browsers share cookies between ports). */
export const OPENSERVE_SESSION_COOKIE = 'openserve_session';

/** The API's view of a circuit (SPEC.md "Openserve API"). */
function circuitJson(c: Circuit) {
  return { circuitNumber: c.circuitNumber, status: c.status, customer: c.customer, address: c.address, speed: c.speed, reference: c.reference };
}

function signinPage(options: { error?: string; expired?: boolean; email?: string } = {}): string {
  return documentPage(
    'Openserve Wholesale - Sign in',
    html`<main class="signin">
<h1>Openserve Wholesale</h1>
${options.expired ? html`<div data-testid="signin-expired" role="alert">Your session has expired. Please sign in again.</div>` : ''}
${options.error ? html`<div data-testid="signin-error" role="alert">${options.error}</div>` : ''}
<form data-testid="signin-form" method="post" action="/signin">
<label>E-mail <input name="email" type="email" autocomplete="username" value="${options.email ?? ''}"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form>
</main>`,
  );
}

function appPage(drift: boolean): string {
  return documentPage(
    'Openserve Wholesale',
    html`<header><h1>Openserve Wholesale</h1>
<form method="post" action="/signout"><button type="submit" data-testid="signout-button">Sign out</button></form></header>
<main>
<form data-testid="search-form" autocomplete="off">
<input data-testid="search-input" name="circuit" type="text" placeholder="Circuit number">
<button data-testid="search-button" type="submit">Search</button>
</form>
<div id="toast-area" aria-live="polite"></div>
<div id="result"></div>
</main>
<script>${raw(OPENSERVE_APP_SCRIPT)}</script>`,
    html`<meta name="portal-today" content="${formatIsoDate(todayLocal())}"><meta name="portal-drift" content="${drift ? 'on' : 'off'}">`,
  );
}

/** The Openserve practice portal (SPEC.md "Openserve"): a client-rendered page over a JSON API. */
export function createOpenservePortal(account: PracticeAccount): { app: Express; state: PortalState } {
  const state = new PortalState('openserve', OPENSERVE_CIRCUITS);

  const unavailableJson = (_req: Request, res: Response) => {
    res.json({ error: UNAVAILABLE_TEXT });
  };
  const unavailable = (req: Request, res: Response) => {
    if (req.path.startsWith('/api/')) unavailableJson(req, res);
    else unavailableHtml(req, res);
  };

  const api = express.Router();
  api.use(sessionGuard(state, OPENSERVE_SESSION_COOKIE, (_req, res) => res.status(401).json({ error: 'unauthenticated', message: 'Your session has expired' })));

  const lookupOrAnswer = (req: Request, res: Response): Circuit | undefined => {
    const found = state.circuits.lookup(String(req.params.number));
    if (found.kind === 'invalid') res.status(400).json({ error: 'invalid_circuit', message: 'Invalid circuit number' });
    else if (found.kind === 'not_found') res.status(404).json({ error: 'not_found', message: 'Circuit not found' });
    else return found.circuit;
    return undefined;
  };

  api.get('/circuits/:number', (req, res) => {
    const circuit = lookupOrAnswer(req, res);
    if (circuit) res.json(circuitJson(circuit));
  });

  api.post('/circuits/:number/cancel', (req, res) => {
    const circuit = lookupOrAnswer(req, res);
    if (!circuit) return;
    if (circuit.status === 'cancelled') {
      state.stats.duplicate_cancel_attempts++;
      res.status(409).json({ error: 'already_cancelled', reference: circuit.reference, circuit: circuitJson(circuit) });
      return;
    }
    const reason = field(req.body, 'reason');
    if (!isCancelReason(reason)) {
      res.status(400).json({ error: 'invalid_reason', message: 'reason must be one of customer_request, non_payment, migration, other' });
      return;
    }
    const dateError = effectiveDateError(field(req.body, 'effectiveDate'), parseIsoDate, 'YYYY-MM-DD');
    if (dateError) {
      res.status(400).json({ error: 'invalid_effective_date', message: dateError });
      return;
    }
    const outcome = state.circuits.cancel(circuit.circuitNumber);
    if (outcome.kind !== 'cancelled') throw new Error(`unexpected cancel outcome ${outcome.kind}`);
    state.stats.countCancellation(circuit.circuitNumber);
    if (loseCancelAnswer(state.answerFaults, req, res, unavailableJson)) return;
    res.json({ reference: outcome.circuit.reference, circuit: circuitJson(outcome.circuit) });
  });

  api.use((_req, res) => {
    res.status(404).json({ error: 'not_found', message: 'Unknown API endpoint' });
  });

  const app = createPortalApp(
    state,
    (app) => {
      app.get('/', (req, res) => {
        res.redirect(302, optionalSession(state, req, OPENSERVE_SESSION_COOKIE) ? '/app' : '/signin');
      });

      app.get('/signin', (req, res) => {
        res.type('html').send(signinPage({ expired: queryField(req, 'expired') === '1' }));
      });

      app.post('/signin', async (req, res) => {
        const email = bodyField(req, 'email') ?? '';
        if (email !== account.login || bodyField(req, 'password') !== account.password) {
          state.stats.logins_failed++;
          res.type('html').send(signinPage({ error: 'Invalid email or password', email }));
          return;
        }
        if (!state.hasSessionRoom()) {
          state.stats.logins_failed++;
          res.type('html').send(signinPage({ error: 'Too many active sessions', email }));
          return;
        }
        await completeSignIn(state, res, email, { session: OPENSERVE_SESSION_COOKIE }, '/app');
      });

      app.post('/signout', (req, res) => {
        state.sessions.destroy(readCookie(req, OPENSERVE_SESSION_COOKIE));
        clearCookie(res, OPENSERVE_SESSION_COOKIE);
        res.redirect(302, '/signin');
      });

      app.get('/app', sessionGuard(state, OPENSERVE_SESSION_COOKIE, (_req, res) => res.redirect(302, '/signin?expired=1')), (_req, res) => {
        res.type('html').send(appPage(state.config.drift));
      });

      app.use('/api', api);
    },
    { unavailable, jsonPrefix: '/api/' },
  );
  return { app, state };
}
