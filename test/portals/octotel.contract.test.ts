import { expect } from 'chai';
import { octotelDescriptor } from '../../src/providers/octotel/descriptor.js';
import { startPracticePortal, type PracticePortal } from '../../src/portals/practice-portals.js';
import { expectedCircuit, elapse, isoDay } from './support/derived-expectations.js';
import { describeDrift, fieldsFor } from './support/drift-contract.js';
import { HtmlInspector } from './support/html-inspector.js';
import { PortalClient } from './support/portal-client.js';
import { awayFromStepBoundary, codeAt, wrongCode } from './support/totp-codes.js';

const account = octotelDescriptor.practiceAccount;
const secret = account.totpSecret!;

describe('Octotel practice portal (SPEC.md contract)', function () {
  let portal: PracticePortal;
  let dom: HtmlInspector;
  let client: PortalClient;

  before(async function () {
    portal = await startPracticePortal('octotel', { port: 0, account });
    dom = await HtmlInspector.start();
  });
  after(async function () {
    await dom?.close();
    await portal?.close();
  });
  beforeEach(async function () {
    client = new PortalClient(portal.url);
    await client.reset();
    // Codes are computed for "now ± n steps": keep a step change from shifting them mid-test.
    await awayFromStepBoundary(3000);
  });

  /** Password step; returns the response (302 to /login/otp when accepted). */
  async function passwordStep(c: PortalClient, password = account.password) {
    return c.post('/login', { username: account.login, password });
  }

  /** Full login with the code of step `offset`; returns the OTP step's response. */
  async function login(c: PortalClient, offset = 0) {
    const first = await passwordStep(c);
    expect(first.status, first.body).to.equal(302);
    return c.post('/login/otp', { otp: codeAt(secret, offset) });
  }

  /** A fresh signed-in client. Each call spends a distinct TOTP step, so at most 3 per test. */
  const usedOffsets = new Set<number>();
  beforeEach(() => usedOffsets.clear());
  async function signedIn(): Promise<PortalClient> {
    const offset = [0, -1, 1].find((o) => !usedOffsets.has(o));
    if (offset === undefined) throw new Error('test used more than 3 logins');
    usedOffsets.add(offset);
    const c = client.fresh();
    const res = await login(c, offset);
    expect(res.status, res.body).to.equal(302);
    return c;
  }

  describeDrift({
    name: 'octotel',
    client: () => client,
    dom: () => dom,
    portalUrl: () => portal.url,
    signedIn,
    loginPage: { path: '/login', selectors: ['form#login-form', 'input#username[name=username]', 'input#password[name=password]', 'button#login-btn'] },
    pages: [
      {
        what: 'a found circuit',
        load: (c) => c.get('/circuits?q=OCT444441'),
        selectors: ['table#results', 'table#results tbody tr.result-row', 'td.circuit', 'td.status', 'td.customer', 'td.address', 'td.speed', 'a.view-link'],
        shows: () => 'Customer 444441',
      },
      { what: 'a circuit not found', load: (c) => c.get('/circuits?q=OCT444440'), selectors: ['p#no-results'], shows: () => 'No circuits match' },
      { what: 'an invalid number', load: (c) => c.get('/circuits?q=OCT1'), selectors: ['div.alert-error'], shows: () => 'Invalid circuit number' },
      {
        what: 'the details of a cancelled circuit',
        load: (c) => c.get('/circuits/OCT444449'),
        selectors: ['dl#circuit-detail', 'dd#detail-circuit', 'dd#detail-status', 'dd#detail-customer', 'dd#detail-address', 'dd#detail-speed', 'dd#detail-cancel-ref'],
        shows: () => 'OCT-CAN-944449',
      },
      { what: 'the details of a cancellable circuit', load: (c) => c.get('/circuits/OCT444441'), selectors: ['dl#circuit-detail', 'a#cancel-link'], shows: () => 'Customer 444441' },
      {
        what: 'the cancel form',
        load: (c) => c.get('/circuits/OCT444441/cancel'),
        selectors: ['form#cancel-form', 'select#reason[name=reason]', 'input#effective-date[name=effective_date]', 'input#confirm[name=confirm][type=checkbox]', 'button#submit-cancel'],
        shows: () => 'OCT444441',
      },
      {
        what: 'a cancellation (posted with the field names of the page)',
        load: (c, _dom, round) => c.post(`/circuits/OCT44445${round + 1}/cancel`, fieldsFor(round, { reason: 'other', effective_date: isoDay(0), confirm: 'yes' })),
        selectors: ['div#cancel-success', 'div#cancel-success span#cancel-ref'],
        shows: (round) => `OCT-CAN-00000${round + 1}`,
      },
      { what: 'an already-cancelled answer', load: (c) => c.post('/circuits/OCT444449/cancel', {}), selectors: ['div.alert-info', 'span#cancel-ref'], shows: () => 'OCT-CAN-944449' },
    ],
  });

  describe('login', function () {
    before(() => awayFromStepBoundary());

    it('serves the login form with the contract selectors', async function () {
      const res = await client.get('/login');
      expect(res.status).to.equal(200);
      await dom.load(res.body);
      expect(await dom.attr('form#login-form', 'action')).to.equal('/login');
      expect((await dom.attr('form#login-form', 'method'))?.toLowerCase()).to.equal('post');
      expect(await dom.count('form#login-form input#username[name=username]')).to.equal(1);
      expect(await dom.count('form#login-form input#password[name=password]')).to.equal(1);
      expect(await dom.count('form#login-form button#login-btn')).to.equal(1);
    });

    it('refuses bad credentials with div.alert-error and counts logins_failed', async function () {
      const res = await passwordStep(client, 'wrong');
      expect(res.status).to.equal(200);
      await dom.load(res.body);
      expect(await dom.text('div.alert-error')).to.equal('Invalid username or password');
      expect(await dom.count('form#login-form')).to.equal(1);
      const wrongUser = await client.post('/login', { username: 'someone', password: account.password });
      await dom.load(wrongUser.body);
      expect(await dom.text('div.alert-error')).to.equal('Invalid username or password');
      expect(client.cookies.size).to.equal(0);
      const stats = await client.stats();
      expect(stats.logins_failed).to.equal(2);
      expect(stats.logins_ok).to.equal(0);
    });

    it('sends good credentials to /login/otp with a pre-auth cookie valid 120 s, then the OTP form', async function () {
      const res = await passwordStep(client);
      expect(res.status).to.equal(302);
      expect(res.location).to.equal('/login/otp');
      const preAuth = res.setCookies.find((c) => c.startsWith('octotel_preauth='));
      expect(preAuth).to.match(/Max-Age=120/);
      expect(client.cookies.has('octotel_session')).to.equal(false);
      const otp = await client.get('/login/otp');
      expect(otp.status).to.equal(200);
      await dom.load(otp.body);
      expect(await dom.attr('form#otp-form', 'action')).to.equal('/login/otp');
      expect((await dom.attr('form#otp-form', 'method'))?.toLowerCase()).to.equal('post');
      expect(await dom.count('form#otp-form input#otp[name=otp]')).to.equal(1);
      expect(await dom.count('form#otp-form button#verify-btn')).to.equal(1);
    });

    it('without a pre-auth, /login/otp goes back to /login', async function () {
      expect((await client.get('/login/otp')).location).to.equal('/login');
      expect((await client.post('/login/otp', { otp: codeAt(secret) })).location).to.equal('/login');
    });

    it('accepts a valid code: session cookie, 302 to /dashboard, dashboard selectors, stats', async function () {
      const res = await login(client);
      expect(res.status).to.equal(302);
      expect(res.location).to.equal('/dashboard');
      expect(client.cookies.has('octotel_session')).to.equal(true);
      expect(client.cookies.has('octotel_preauth')).to.equal(false);
      const dash = await client.get('/dashboard');
      expect(dash.status).to.equal(200);
      await dom.load(dash.body);
      expect(await dom.text('span#current-user')).to.equal(account.login);
      expect(await dom.attr('a#nav-circuits', 'href')).to.equal('/circuits');
      expect(await dom.attr('a#logout', 'href')).to.equal('/logout');
      const stats = await client.stats();
      expect(stats).to.include({ logins_ok: 1, logins_failed: 0, totp_ok: 1, totp_rejected_reused: 0, totp_rejected_invalid: 0, active_sessions: 1 });
    });

    it('refuses a replayed step with "This code has already been used"', async function () {
      expect((await login(client)).status).to.equal(302);
      const second = client.fresh();
      const res = await login(second);
      expect(res.status).to.equal(200);
      await dom.load(res.body);
      expect(await dom.text('div.alert-error')).to.equal('This code has already been used');
      expect(await dom.count('form#otp-form')).to.equal(1);
      expect(second.cookies.has('octotel_session')).to.equal(false);
      const stats = await client.stats();
      expect(stats).to.include({ totp_ok: 1, totp_rejected_reused: 1, totp_rejected_invalid: 0, logins_ok: 1, logins_failed: 0 });
    });

    it('refuses a wrong code with "Invalid verification code" and ends the pre-auth after three refusals', async function () {
      expect((await passwordStep(client)).status).to.equal(302);
      for (let i = 1; i <= 2; i++) {
        const res = await client.post('/login/otp', { otp: wrongCode(secret) });
        expect(res.status).to.equal(200);
        await dom.load(res.body);
        expect(await dom.text('div.alert-error')).to.equal('Invalid verification code');
      }
      const third = await client.post('/login/otp', { otp: wrongCode(secret) });
      expect(third.status).to.equal(302);
      expect(third.location).to.equal('/login');
      // The pre-auth is gone: even a valid code now goes back to /login.
      expect((await client.post('/login/otp', { otp: codeAt(secret) })).location).to.equal('/login');
      expect((await client.get('/login/otp')).location).to.equal('/login');
      const stats = await client.stats();
      expect(stats).to.include({ totp_rejected_invalid: 3, totp_ok: 0, logins_failed: 0 });
    });

    it('counts replayed and wrong codes together toward the three refusals', async function () {
      expect((await login(client)).status).to.equal(302);
      const other = client.fresh();
      expect((await passwordStep(other)).status).to.equal(302);
      expect((await other.post('/login/otp', { otp: codeAt(secret) })).status).to.equal(200);
      expect((await other.post('/login/otp', { otp: wrongCode(secret) })).status).to.equal(200);
      expect((await other.post('/login/otp', { otp: codeAt(secret) })).location).to.equal('/login');
      expect(await client.stats()).to.include({ totp_rejected_reused: 2, totp_rejected_invalid: 1 });
    });

    it('accepts the current step ± totp_window (default 1) and refuses beyond it', async function () {
      await awayFromStepBoundary();
      expect((await login(client.fresh(), -1)).location).to.equal('/dashboard');
      expect((await login(client.fresh(), 1)).location).to.equal('/dashboard');
      const beyond = client.fresh();
      const res = await login(beyond, 2);
      await dom.load(res.body);
      expect(await dom.text('div.alert-error')).to.equal('Invalid verification code');
      expect((await beyond.post('/login/otp', { otp: codeAt(secret, -2) })).status).to.equal(200);
      expect(await client.stats()).to.include({ totp_ok: 2, totp_rejected_invalid: 2 });
    });

    it('honours totp_window 0 (only the current step) and 2', async function () {
      await awayFromStepBoundary();
      await client.configure({ totp_window: 0 });
      const c = client.fresh();
      const refused = await login(c, 1);
      await dom.load(refused.body);
      expect(await dom.text('div.alert-error')).to.equal('Invalid verification code');
      expect((await c.post('/login/otp', { otp: codeAt(secret, 0) })).location).to.equal('/dashboard');
      await client.configure({ totp_window: 2 });
      expect((await login(client.fresh(), 2)).location).to.equal('/dashboard');
    });

    it('refuses a login beyond max_sessions at the password step with "Too many active sessions"', async function () {
      await client.configure({ max_sessions: 1 });
      const first = await signedIn();
      const res = await passwordStep(client.fresh());
      expect(res.status).to.equal(200);
      await dom.load(res.body);
      expect(await dom.text('div.alert-error')).to.equal('Too many active sessions');
      expect(await client.stats()).to.include({ logins_failed: 1, active_sessions: 1 });
      // The older session lives on; logging out frees the slot.
      expect((await first.get('/dashboard')).status).to.equal(200);
      expect((await first.get('/logout')).location).to.equal('/login');
      expect((await client.stats()).active_sessions).to.equal(0);
      expect((await passwordStep(client.fresh())).status).to.equal(302);
    });

    it('checks max_sessions again at the OTP step, before the code is spent', async function () {
      await awayFromStepBoundary();
      await client.configure({ max_sessions: 1 });
      const waiting = client.fresh();
      expect((await passwordStep(waiting)).status).to.equal(302);
      const holder = await signedIn(); // spends step 0
      const refused = await waiting.post('/login/otp', { otp: codeAt(secret, 1) });
      expect(refused.status).to.equal(200);
      await dom.load(refused.body);
      expect(await dom.text('div.alert-error')).to.equal('Too many active sessions');
      expect(await dom.count('form#otp-form')).to.equal(1);
      expect(await client.stats()).to.include({ logins_failed: 1, totp_rejected_invalid: 0, totp_rejected_reused: 0 });
      await holder.get('/logout');
      // The step +1 code was not spent by the refusal: it is still accepted.
      expect((await waiting.post('/login/otp', { otp: codeAt(secret, 1) })).location).to.equal('/dashboard');
    });

    it('adds login_delay_ms to the successful final (OTP) step', async function () {
      await client.configure({ login_delay_ms: 400 });
      expect((await passwordStep(client)).status).to.equal(302);
      const started = Date.now();
      const res = await client.post('/login/otp', { otp: codeAt(secret) });
      expect(res.location).to.equal('/dashboard');
      expect(Date.now() - started).to.be.at.least(390);
    });
  });

  describe('sessions', function () {
    it('sends a request without a session to /login?expired=1, which shows div.alert-info', async function () {
      for (const path of ['/dashboard', '/circuits', '/circuits/OCT000011', '/circuits/OCT000011/cancel']) {
        const res = await client.get(path);
        expect(res.status, path).to.equal(302);
        expect(res.location, path).to.equal('/login?expired=1');
      }
      expect((await client.post('/circuits/OCT000011/cancel', {})).location).to.equal('/login?expired=1');
      client.cookies.set('octotel_session', 'unknown-session-id');
      expect((await client.get('/dashboard')).location).to.equal('/login?expired=1');
      const page = await client.get('/login?expired=1');
      await dom.load(page.body);
      expect(await dom.text('div.alert-info')).to.equal('Your session has expired');
      expect(await dom.count('form#login-form')).to.equal(1);
    });

    it('expires an idle session after session_idle_s and frees its slot', async function () {
      await client.configure({ session_idle_s: 1 });
      const c = await signedIn();
      expect((await c.get('/dashboard')).status).to.equal(200);
      expect((await client.stats()).active_sessions).to.equal(1);
      await elapse(1100);
      expect((await client.stats()).active_sessions).to.equal(0);
      const res = await c.get('/dashboard');
      expect(res.status).to.equal(302);
      expect(res.location).to.equal('/login?expired=1');
    });

    it('keeps a session alive while it is used', async function () {
      await client.configure({ session_idle_s: 1 });
      const c = await signedIn();
      for (let i = 0; i < 3; i++) {
        await elapse(600);
        expect((await c.get('/dashboard')).status).to.equal(200);
      }
    });

    it('logout ends the session and redirects to /login; / redirects to the start page', async function () {
      expect((await client.get('/')).location).to.equal('/login');
      const c = await signedIn();
      expect((await c.get('/')).location).to.equal('/dashboard');
      const res = await c.get('/logout');
      expect(res.status).to.equal(302);
      expect(res.location).to.equal('/login');
      expect((await c.get('/dashboard')).location).to.equal('/login?expired=1');
      expect((await client.stats()).active_sessions).to.equal(0);
    });
  });

  describe('circuits', function () {
    let c: PortalClient;
    beforeEach(async () => {
      c = await signedIn();
    });

    it('serves the search form and finds a circuit as one result row', async function () {
      const res = await c.get('/circuits?q=OCT123451');
      expect(res.status).to.equal(200);
      await dom.load(res.body);
      expect(await dom.attr('form#search-form', 'action')).to.equal('/circuits');
      expect((await dom.attr('form#search-form', 'method'))?.toLowerCase()).to.equal('get');
      expect(await dom.count('form#search-form input#q[name=q]')).to.equal(1);
      expect(await dom.count('form#search-form button#search-btn')).to.equal(1);
      expect(await dom.count('table#results tbody tr.result-row')).to.equal(1);
      const want = expectedCircuit('OCT123451', 'OCT')!;
      const row = 'table#results tbody tr.result-row';
      expect(await dom.text(`${row} td.circuit`)).to.equal('OCT123451');
      expect(await dom.text(`${row} td.status`)).to.equal('active');
      expect(await dom.text(`${row} td.customer`)).to.equal(want.customer);
      expect(await dom.text(`${row} td.address`)).to.equal(want.address);
      expect(await dom.text(`${row} td.speed`)).to.equal(want.speed);
      expect(await dom.attr(`${row} a.view-link`, 'href')).to.equal('/circuits/OCT123451');
    });

    it('says "No circuits match" for a missing circuit and "Invalid circuit number" for a bad format', async function () {
      await dom.load((await c.get('/circuits?q=OCT123450')).body);
      expect(await dom.text('p#no-results')).to.equal('No circuits match');
      expect(await dom.count('table#results')).to.equal(0);
      for (const bad of ['OCT12345', 'oct123451', 'OSN1234567', '<b>x</b>']) {
        const res = await c.get(`/circuits?q=${encodeURIComponent(bad)}`);
        expect(res.status).to.equal(200);
        await dom.load(res.body);
        expect(await dom.text('div.alert-error'), bad).to.equal('Invalid circuit number');
        expect(await dom.count('table#results')).to.equal(0);
      }
      // Request data is escaped, not interpreted.
      const escaped = await c.get(`/circuits?q=${encodeURIComponent('<b>x</b>')}`);
      expect(escaped.body).to.not.include('<b>x</b>');
      await dom.load(escaped.body);
      expect(await dom.value('input#q')).to.equal('<b>x</b>');
    });

    it('derives every last digit: status, customer, address, speed, cancelled reference, cancel link', async function () {
      for (let d = 0; d <= 9; d++) {
        const number = `OCT9876${(d + 3) % 10}${d}`;
        const want = expectedCircuit(number, 'OCT');
        const res = await c.get(`/circuits/${number}`);
        if (!want) {
          expect(res.status, number).to.equal(404);
          continue;
        }
        expect(res.status, number).to.equal(200);
        await dom.load(res.body);
        expect(await dom.text('dl#circuit-detail dd#detail-circuit')).to.equal(number);
        expect(await dom.text('dd#detail-status'), number).to.equal(want.status);
        expect(await dom.text('dd#detail-customer')).to.equal(want.customer);
        expect(await dom.text('dd#detail-address')).to.equal(want.address);
        expect(await dom.text('dd#detail-speed')).to.equal(want.speed);
        if (want.reference) {
          expect(await dom.text('dd#detail-cancel-ref')).to.equal(want.reference);
          expect(await dom.count('a#cancel-link')).to.equal(0);
        } else {
          expect(await dom.count('dd#detail-cancel-ref')).to.equal(0);
          expect(await dom.attr('a#cancel-link', 'href')).to.equal(`/circuits/${number}/cancel`);
        }
      }
    });

    it('covers every speed (second-last digit mod 5) and the address formula', async function () {
      const speeds = ['25/25 Mbps', '50/50 Mbps', '100/50 Mbps', '200/100 Mbps', '1000/500 Mbps'];
      for (let e = 0; e <= 9; e++) {
        const number = `OCT5000${e}1`;
        await dom.load((await c.get(`/circuits/${number}`)).body);
        expect(await dom.text('dd#detail-speed'), number).to.equal(speeds[e % 5]);
        expect(await dom.text('dd#detail-address')).to.equal(`${(Number(`5000${e}1`) % 997) + 1} Fibre Street, Cape Town`);
      }
      await dom.load((await c.get('/circuits/OCT000999')).body);
      expect(await dom.text('dd#detail-cancel-ref')).to.equal('OCT-CAN-900999');
      expect(await dom.text('dd#detail-customer')).to.equal('Customer 000999');
    });

    it('answers direct circuit URLs with 400 for an invalid number and 404 for a missing one', async function () {
      expect((await c.get('/circuits/OCT12345')).status).to.equal(400);
      expect((await c.get('/circuits/OCT12345/cancel')).status).to.equal(400);
      expect((await c.post('/circuits/XYZ/cancel', {})).status).to.equal(400);
      expect((await c.get('/circuits/OCT123450')).status).to.equal(404);
      expect((await c.get('/circuits/OCT123450/cancel')).status).to.equal(404);
      expect((await c.post('/circuits/OCT123450/cancel', {})).status).to.equal(404);
    });
  });

  describe('cancellation', function () {
    let c: PortalClient;
    beforeEach(async () => {
      c = await signedIn();
    });

    const submit = (cl: PortalClient, number: string, fields: Record<string, string>) => cl.post(`/circuits/${number}/cancel`, fields);
    const good = { reason: 'customer_request', effective_date: isoDay(0), confirm: 'yes' };

    it('serves the cancel form with the contract fields', async function () {
      const res = await c.get('/circuits/OCT111111/cancel');
      expect(res.status).to.equal(200);
      await dom.load(res.body);
      expect(await dom.attr('form#cancel-form', 'action')).to.equal('/circuits/OCT111111/cancel');
      expect((await dom.attr('form#cancel-form', 'method'))?.toLowerCase()).to.equal('post');
      expect(await dom.count('form#cancel-form select#reason[name=reason]')).to.equal(1);
      const options = await dom.optionValues('select#reason option');
      expect(options).to.deep.equal(['customer_request', 'non_payment', 'migration', 'other']);
      expect(await dom.count('form#cancel-form input#effective-date[name=effective_date]')).to.equal(1);
      expect(await dom.count('form#cancel-form input#confirm[name=confirm][type=checkbox]')).to.equal(1);
      expect(await dom.count('form#cancel-form button#submit-cancel')).to.equal(1);
    });

    it('cancels with a reference from the sequence, then reports it as already cancelled', async function () {
      const res = await submit(c, 'OCT111111', good);
      expect(res.status).to.equal(200);
      await dom.load(res.body);
      expect(await dom.text('div#cancel-success span#cancel-ref')).to.equal('OCT-CAN-000001');
      await dom.load((await c.get('/circuits/OCT111111')).body);
      expect(await dom.text('dd#detail-status')).to.equal('cancelled');
      expect(await dom.text('dd#detail-cancel-ref')).to.equal('OCT-CAN-000001');
      expect(await dom.count('a#cancel-link')).to.equal(0);
      await dom.load((await c.get('/circuits?q=OCT111111')).body);
      expect(await dom.text('td.status')).to.equal('cancelled');

      // The cancel page still shows its form; submitting it answers "already cancelled", before other fields.
      const form = await c.get('/circuits/OCT111111/cancel');
      await dom.load(form.body);
      expect(await dom.count('form#cancel-form')).to.equal(1);
      const again = await submit(c, 'OCT111111', {});
      expect(again.status).to.equal(200);
      await dom.load(again.body);
      expect(await dom.text('div.alert-info')).to.contain('Circuit already cancelled');
      expect(await dom.text('div.alert-info span#cancel-ref')).to.equal('OCT-CAN-000001');
      expect(await dom.count('div#cancel-success')).to.equal(0);

      const second = await submit(c, 'OCT222227', { ...good, reason: 'migration', effective_date: isoDay(30) });
      await dom.load(second.body);
      expect(await dom.text('span#cancel-ref')).to.equal('OCT-CAN-000002');

      const stats = await client.stats();
      expect(stats.cancellations).to.deep.equal({ OCT111111: 1, OCT222227: 1 });
      expect(stats.duplicate_cancel_attempts).to.equal(1);
    });

    it('answers a derived cancelled circuit with its derived reference and counts the duplicate', async function () {
      const res = await submit(c, 'OCT123459', good);
      await dom.load(res.body);
      expect(await dom.text('div.alert-info span#cancel-ref')).to.equal('OCT-CAN-923459');
      expect(await client.stats()).to.include({ duplicate_cancel_attempts: 1 });
      expect((await client.stats()).cancellations).to.deep.equal({});
    });

    it('refuses a missing confirm, a past date, an impossible date and a bad reason with the form again', async function () {
      const cases: Array<Record<string, string>> = [
        { reason: 'customer_request', effective_date: isoDay(0) },
        { ...good, effective_date: isoDay(-1) },
        { ...good, effective_date: '2027-02-30' },
        { ...good, effective_date: '23/11/2030' },
        { ...good, effective_date: '' },
        { ...good, reason: 'because' },
      ];
      for (const fields of cases) {
        const res = await submit(c, 'OCT333333', fields);
        expect(res.status, JSON.stringify(fields)).to.equal(200);
        await dom.load(res.body);
        expect(await dom.count('div.alert-error'), JSON.stringify(fields)).to.equal(1);
        expect(await dom.count('form#cancel-form')).to.equal(1);
        expect(await dom.count('div#cancel-success')).to.equal(0);
      }
      await dom.load((await c.get('/circuits/OCT333333')).body);
      expect(await dom.text('dd#detail-status')).to.equal('active');
      expect((await client.stats()).cancellations).to.deep.equal({});
    });

    it('cancels pending and suspended circuits too', async function () {
      for (const number of ['OCT444447', 'OCT444448']) {
        await dom.load((await submit(c, number, good)).body);
        expect(await dom.count('div#cancel-success span#cancel-ref')).to.equal(1);
      }
    });
  });

  describe('control API', function () {
    it('seeds an array and a single object, "missing", and a cancelled circuit with a sequence reference', async function () {
      await client.seed([
        { circuit_number: 'OCT100001', status: 'suspended', customer: 'Acme <Ltd>', address: '1 Main Road', speed: '100/50 Mbps' },
        { circuit_number: 'OCT100002', status: 'missing' },
      ]);
      await client.seed({ circuit_number: 'OCT100003', status: 'cancelled', customer: 'Zed', address: '2 Side Road', speed: '25/25 Mbps' });
      const c = await signedIn();
      await dom.load((await c.get('/circuits?q=OCT100001')).body);
      expect(await dom.text('td.status')).to.equal('suspended');
      expect(await dom.text('td.customer')).to.equal('Acme <Ltd>');
      expect(await dom.text('td.address')).to.equal('1 Main Road');
      expect(await dom.text('td.speed')).to.equal('100/50 Mbps');
      await dom.load((await c.get('/circuits?q=OCT100002')).body);
      expect(await dom.text('p#no-results')).to.equal('No circuits match');
      expect((await c.get('/circuits/OCT100002')).status).to.equal(404);
      await dom.load((await c.get('/circuits/OCT100003')).body);
      expect(await dom.text('dd#detail-cancel-ref')).to.equal('OCT-CAN-000001');
      // The next cancellation continues the sequence.
      await dom.load((await c.post('/circuits/OCT100001/cancel', { reason: 'other', effective_date: isoDay(1), confirm: 'on' })).body);
      expect(await dom.text('span#cancel-ref')).to.equal('OCT-CAN-000002');
    });

    it('refuses bad seeds with 400 and applies none of a bad batch', async function () {
      for (const body of [[{ circuit_number: 'OCT1', status: 'active' }], [{ circuit_number: 'OCT100001', status: 'gone' }], 'x', [{ circuit_number: 'OCT100001', status: 'active', customer: 5 }]]) {
        expect((await client.control('circuits', body)).status, JSON.stringify(body)).to.equal(400);
      }
      expect((await client.control('circuits', [{ circuit_number: 'OCT100004', status: 'missing' }, { circuit_number: 'bad', status: 'active' }])).status).to.equal(400);
      const c = await signedIn();
      expect((await c.get('/circuits/OCT100004')).status).to.equal(200);
    });

    it('reset clears sessions, stats, cancellations, seeds, used TOTP steps, the sequence and config', async function () {
      await awayFromStepBoundary();
      await client.configure({ max_sessions: 3, latency_ms: 1 });
      await client.seed({ circuit_number: 'OCT100001', status: 'missing' });
      const c = client.fresh();
      expect((await login(c)).location).to.equal('/dashboard');
      await c.post('/circuits/OCT100006/cancel', { reason: 'other', effective_date: isoDay(0), confirm: 'on' });
      await client.reset();
      expect(await client.stats()).to.deep.equal({
        logins_ok: 0,
        logins_failed: 0,
        totp_ok: 0,
        totp_rejected_reused: 0,
        totp_rejected_invalid: 0,
        active_sessions: 0,
        requests: 0,
        errors_injected: 0,
        cancellations: {},
        duplicate_cancel_attempts: 0,
      });
      expect((await fetch(`${portal.url}/__sandbox/config`).then((r) => r.json()))).to.deep.equal({
        latency_ms: 0,
        login_delay_ms: 0,
        error_rate: 0,
        session_idle_s: 600,
        max_sessions: 5,
        totp_window: 1,
        drift: false,
      });
      expect((await c.get('/dashboard')).location).to.equal('/login?expired=1');
      // The step used before the reset is accepted again.
      expect((await login(c)).location).to.equal('/dashboard');
      expect((await c.get('/circuits/OCT100001')).status).to.equal(200);
      await dom.load((await c.get('/circuits/OCT100006')).body);
      expect(await dom.text('dd#detail-status')).to.equal('active');
      await dom.load((await c.post('/circuits/OCT100006/cancel', { reason: 'other', effective_date: isoDay(0), confirm: 'on' })).body);
      expect(await dom.text('span#cancel-ref')).to.equal('OCT-CAN-000001');
    });

    it('returns the whole config on POST and refuses unknown or out-of-range keys with 400', async function () {
      const ok = await client.control('config', { latency_ms: 5, error_rate: 0.5 });
      expect(ok.status).to.equal(200);
      expect(ok.json).to.deep.equal({ latency_ms: 5, login_delay_ms: 0, error_rate: 0.5, session_idle_s: 600, max_sessions: 5, totp_window: 1, drift: false });
      const bad = [{ nope: 1 }, { error_rate: 1.5 }, { error_rate: -0.1 }, { latency_ms: -1 }, { max_sessions: 0 }, { session_idle_s: 0 }, { totp_window: -1 }, { latency_ms: 'x' }, [1]];
      for (const body of bad) {
        const res = await client.control('config', body);
        expect(res.status, JSON.stringify(body)).to.equal(400);
        expect(res.json.error, JSON.stringify(body)).to.be.a('string');
      }
      const after = await fetch(`${portal.url}/__sandbox/config`).then((r) => r.json());
      expect(after).to.include({ latency_ms: 5, error_rate: 0.5 });
    });

    it('counts portal requests (503s included) but not control calls', async function () {
      await client.get('/login');
      await client.get('/login');
      await client.stats();
      await client.configure({ error_rate: 1 });
      const res = await client.get('/login');
      expect(res.status).to.equal(503);
      expect(res.body).to.contain('Service temporarily unavailable');
      expect((await client.get('/dashboard')).status).to.equal(503);
      const stats = await client.stats();
      expect(stats.requests).to.equal(4);
      expect(stats.errors_injected).to.equal(2);
    });

    it('error_rate 0 never faults and 1 always does; the control API is never faulted', async function () {
      await client.configure({ error_rate: 1 });
      for (let i = 0; i < 5; i++) expect((await client.post('/login', { username: account.login, password: account.password })).status).to.equal(503);
      expect((await fetch(`${portal.url}/__sandbox/stats`)).status).to.equal(200);
      await client.configure({ error_rate: 0 });
      for (let i = 0; i < 5; i++) expect((await client.get('/login')).status).to.equal(200);
    });

    it('adds latency_ms to portal responses, not to the control API', async function () {
      await client.configure({ latency_ms: 1500 });
      let started = Date.now();
      expect((await client.get('/login')).status).to.equal(200);
      expect(Date.now() - started).to.be.at.least(1490);
      started = Date.now();
      await client.stats();
      expect(Date.now() - started).to.be.below(1000);
    });
  });
});
