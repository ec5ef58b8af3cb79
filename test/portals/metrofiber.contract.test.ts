import { expect } from 'chai';
import { metrofiberDescriptor } from '../../src/providers/metrofiber/descriptor.js';
import { describeCommonContract, usePortal, type PortalDriver, type ReadCircuit } from './support/common-contract.js';
import { dmyDay, isoDay } from './support/derived-expectations.js';
import { describeDrift, fieldsFor } from './support/drift-contract.js';
import type { HtmlInspector } from './support/html-inspector.js';
import type { PortalClient, PortalResponse } from './support/portal-client.js';

const account = metrofiberDescriptor.practiceAccount;

/** The csrf_token of the form the selector names, from a page the client GETs. */
async function tokenOf(c: PortalClient, dom: HtmlInspector, path: string, form: string): Promise<string> {
  const res = await c.get(path);
  expect(res.status, `${path}: ${res.location ?? ''}`).to.equal(200);
  await dom.load(res.body);
  return (await dom.attr(`${form} input[type=hidden][name=csrf_token]`, 'value'))!;
}

async function postLogin(c: PortalClient, dom: HtmlInspector, password = account.password): Promise<PortalResponse> {
  const csrf_token = await tokenOf(c, dom, '/index.php?page=login', 'form[name=loginForm]');
  return c.post('/index.php?page=login', { email: account.login, password, csrf_token });
}

/** Logs in and acknowledges the notice if it is pending; returns the login POST's response. */
async function login(c: PortalClient, dom: HtmlInspector): Promise<PortalResponse> {
  const res = await postLogin(c, dom);
  if (res.status !== 302) return res;
  const home = await c.get('/index.php?page=home');
  if (home.status === 302 && home.location === '/index.php?page=notice') {
    const csrf_token = await tokenOf(c, dom, '/index.php?page=notice', 'form#noticeForm');
    const ack = await c.post('/index.php?page=notice', { csrf_token });
    expect(ack.status).to.equal(302);
  }
  return res;
}

async function readGrid(c: PortalClient, dom: HtmlInspector, number: string): Promise<ReadCircuit> {
  const res = await c.get(`/index.php?page=search&circuit=${encodeURIComponent(number)}`);
  expect(res.status).to.equal(200);
  await dom.load(res.body);
  if ((await dom.count('td.no-data')) > 0) {
    expect(await dom.text('td.no-data')).to.equal('No records found');
    return { found: false };
  }
  expect(await dom.count('table.data-grid tr.data-row')).to.equal(1);
  expect(await dom.texts('table.data-grid tr:first-child th')).to.deep.equal(['Circuit', 'Status', 'Customer', 'Address', 'Speed', 'Action']);
  const cells = await dom.texts('table.data-grid tr.data-row > td');
  expect(cells[0]).to.equal(number);
  const action = 'table.data-grid tr.data-row > td:nth-child(6)';
  const link = `${action} a`;
  const cancellable = (await dom.count(link)) === 1;
  if (cancellable) {
    expect(await dom.text(link)).to.equal('Cancel');
    expect(await dom.attr(link, 'href')).to.equal(`/index.php?page=cancel&circuit=${number}`);
  }
  return {
    found: true,
    status: cells[1]!,
    customer: cells[2]!,
    address: cells[3]!,
    speed: cells[4]!,
    reference: (await dom.count(`${action} span.ref`)) ? await dom.text(`${action} span.ref`) : null,
    cancellable,
  };
}

async function submitCancel(c: PortalClient, dom: HtmlInspector, number: string, fields: Record<string, string> = {}) {
  const path = `/index.php?page=cancel&circuit=${number}`;
  const csrf_token = await tokenOf(c, dom, path, 'form#cancelForm');
  return c.post(path, { csrf_token, reason: 'customer_request', effective_date: dmyDay(0), confirm_text: number, submit_cancel: 'Cancel circuit', ...fields });
}

const driver: PortalDriver = {
  name: 'metrofiber',
  account,
  prefix: 'MFN',
  number: (digits) => {
    const d = digits.padStart(8, '0').slice(-8);
    return `MFN-${d.slice(0, 4)}-${d.slice(4)}`;
  },
  invalidNumber: 'MFN-1234-567',
  sessionCookie: 'metrofiber_PHPSESSID',
  login,
  expectLoggedIn(res) {
    expect(res.status, res.body).to.equal(302);
    expect(res.location).to.equal('/index.php?page=home');
  },
  async expectTooManySessions(res, dom) {
    expect(res.status).to.equal(200);
    await dom.load(res.body);
    expect(await dom.text('div.error')).to.equal('Too many active sessions');
  },
  guardedPath: '/index.php?page=home',
  expiredLocation: '/index.php?page=login&expired=1',
  async expectExpiredPage(c, dom) {
    const res = await c.get('/index.php?page=login&expired=1');
    expect(res.status).to.equal(200);
    await dom.load(res.body);
    expect(await dom.text('div.error')).to.equal('Session expired');
    expect(await dom.count('form[name=loginForm]')).to.equal(1);
  },
  read: readGrid,
  async cancel(c, dom, number) {
    const res = await submitCancel(c, dom, number);
    expect(res.status).to.equal(200);
    await dom.load(res.body);
    if ((await dom.count('div.warning')) > 0) return { already: true, reference: await dom.text('div.warning span.ref') };
    return { already: false, reference: await dom.text('div.success span.ref') };
  },
  expectUnavailable(res) {
    expect(res.status).to.equal(503);
    expect(res.body).to.contain('Service temporarily unavailable');
  },
  showStatus: (s) => s.toUpperCase(),
};

describe('MetroFiber practice portal (SPEC.md contract)', function () {
  const h = usePortal('metrofiber', account);
  describeCommonContract(driver, h);

  /** Submits a cancel form with the page's own token and, in round 0 (drift on), its field names. */
  async function cancelAsServed(c: PortalClient, dom: HtmlInspector, number: string, round: number): Promise<PortalResponse> {
    const path = `/index.php?page=cancel&circuit=${number}`;
    await dom.load((await c.get(path)).body);
    const csrf_token = (await dom.attr('input[type=hidden][name$="csrf_token"]', 'value'))!;
    return c.post(path, fieldsFor(round, { csrf_token, reason: 'customer_request', effective_date: dmyDay(0), confirm_text: number }));
  }

  describeDrift({
    name: 'metrofiber',
    client: () => h.client,
    dom: () => h.dom,
    portalUrl: () => h.portal.url,
    signedIn: async () => {
      const c = h.client.fresh();
      driver.expectLoggedIn(await login(c, h.dom));
      return c;
    },
    loginPage: { path: '/index.php?page=login', selectors: ['form[name=loginForm]', 'form[name=loginForm] input[name=csrf_token]', 'input[type=submit][value=Login]'] },
    pages: [
      {
        what: 'a found circuit',
        load: (c) => c.get('/index.php?page=search&circuit=MFN-4444-4441'),
        selectors: ['table.data-grid', 'table.data-grid tr.data-row', 'tr.data-row a[href="/index.php?page=cancel&circuit=MFN-4444-4441"]'],
        shows: () => 'Customer 44444441',
      },
      { what: 'a cancelled circuit', load: (c) => c.get('/index.php?page=search&circuit=MFN-4444-4449'), selectors: ['tr.data-row', 'tr.data-row span.ref'], shows: () => 'MFN-CAN-944449' },
      { what: 'a circuit not found', load: (c) => c.get('/index.php?page=search&circuit=MFN-4444-4440'), selectors: ['td.no-data'], shows: () => 'No records found' },
      { what: 'an invalid number', load: (c) => c.get('/index.php?page=search&circuit=MFN-1'), selectors: ['div.error'], shows: () => 'Invalid circuit number' },
      {
        what: 'the cancel form',
        load: (c) => c.get('/index.php?page=cancel&circuit=MFN-4444-4441'),
        selectors: [
          'form#cancelForm',
          'form#cancelForm input[type=hidden][name=csrf_token]',
          'select[name=reason]',
          'input[name=effective_date]',
          'input[name=confirm_text]',
          'input[type=submit][name=submit_cancel]',
        ],
        shows: () => 'MFN-4444-4441',
      },
      {
        what: 'a cancellation (posted with the field names and token of the page)',
        load: (c, dom, round) => cancelAsServed(c, dom, `MFN-4444-445${round + 1}`, round),
        selectors: ['div.success', 'div.success span.ref'],
        shows: (round) => `MFN-CAN-00000${round + 1}`,
      },
      {
        what: 'an already-cancelled answer',
        load: (c, dom, round) => cancelAsServed(c, dom, 'MFN-4444-4449', round),
        selectors: ['div.warning', 'div.warning span.ref'],
        shows: () => 'MFN-CAN-944449',
      },
    ],
  });

  describe('metrofiber: login, CSRF and notice', function () {
    it('serves the login form with the contract selectors', async function () {
      const res = await h.client.get('/index.php?page=login');
      expect(res.status).to.equal(200);
      await h.dom.load(res.body);
      const form = 'form[name=loginForm]';
      expect((await h.dom.attr(form, 'method'))?.toLowerCase()).to.equal('post');
      expect(await h.dom.attr(form, 'action')).to.equal('/index.php?page=login');
      expect(await h.dom.count(`${form} input[name=email]`)).to.equal(1);
      expect(await h.dom.count(`${form} input[name=password]`)).to.equal(1);
      expect(await h.dom.count(`${form} input[type=hidden][name=csrf_token]`)).to.equal(1);
      expect(await h.dom.count(`${form} input[type=submit][value=Login]`)).to.equal(1);
    });

    it('answers a missing or wrong token with 403 div.error "Invalid request token"', async function () {
      for (const csrf_token of [undefined, 'forged', 'a.b']) {
        const form: Record<string, string> = { email: account.login, password: account.password };
        if (csrf_token) form.csrf_token = csrf_token;
        const res = await h.client.post('/index.php?page=login', form);
        expect(res.status).to.equal(403);
        await h.dom.load(res.body);
        expect(await h.dom.text('div.error')).to.equal('Invalid request token');
      }
      expect(h.client.cookies.size).to.equal(0);
      expect((await h.client.stats()).logins_ok).to.equal(0);
    });

    it('refuses a token bound to another page (login ↔ cancel ↔ notice) and another session', async function () {
      expect((await login(h.client, h.dom)).status).to.equal(302);
      const cancelToken = await tokenOf(h.client, h.dom, '/index.php?page=cancel&circuit=MFN-0000-0011', 'form#cancelForm');
      const other = h.client.fresh();
      const loginAsCancel = await other.post('/index.php?page=login', { email: account.login, password: account.password, csrf_token: cancelToken });
      expect(loginAsCancel.status).to.equal(403);
      // A cancel token for one circuit does not work for another.
      const wrongCircuit = await h.client.post('/index.php?page=cancel&circuit=MFN-0000-0021', {
        csrf_token: cancelToken,
        reason: 'other',
        effective_date: dmyDay(0),
        confirm_text: 'MFN-0000-0021',
      });
      expect(wrongCircuit.status).to.equal(403);
      await h.dom.load(wrongCircuit.body);
      expect(await h.dom.text('div.error')).to.equal('Invalid request token');
      expect(await h.dom.count('form#cancelForm')).to.equal(1);
      // A token bound to this session does not work in another session.
      expect((await login(other, h.dom)).status).to.equal(302);
      const otherSession = await other.post('/index.php?page=cancel&circuit=MFN-0000-0011', {
        csrf_token: cancelToken,
        reason: 'other',
        effective_date: dmyDay(0),
        confirm_text: 'MFN-0000-0011',
      });
      expect(otherSession.status).to.equal(403);
      expect((await h.client.stats()).cancellations).to.deep.equal({});
    });

    it('refuses bad credentials with div.error "Login failed"', async function () {
      const res = await postLogin(h.client, h.dom, 'wrong');
      expect(res.status).to.equal(200);
      await h.dom.load(res.body);
      expect(await h.dom.text('div.error')).to.equal('Login failed');
      expect(await h.client.stats()).to.include({ logins_failed: 1, logins_ok: 0 });
    });

    it('sends every page to the notice after the first login until it is acknowledged, portal-wide', async function () {
      const res = await postLogin(h.client, h.dom);
      expect(res.status).to.equal(302);
      expect(res.location).to.equal('/index.php?page=home');
      expect(h.client.cookies.has('metrofiber_PHPSESSID')).to.equal(true);
      for (const path of ['/index.php?page=home', '/index.php?page=search&circuit=MFN-0000-0011', '/index.php?page=cancel&circuit=MFN-0000-0011']) {
        const r = await h.client.get(path);
        expect(r.status, path).to.equal(302);
        expect(r.location, path).to.equal('/index.php?page=notice');
      }
      const page = await h.client.get('/index.php?page=notice');
      await h.dom.load(page.body);
      expect(await h.dom.count('form#noticeForm input[type=hidden][name=csrf_token]')).to.equal(1);
      expect(await h.dom.count('form#noticeForm button#acknowledge')).to.equal(1);
      // A second session sees the same pending notice; a wrong token is refused with 403.
      const second = h.client.fresh();
      expect((await postLogin(second, h.dom)).status).to.equal(302);
      expect((await second.get('/index.php?page=home')).location).to.equal('/index.php?page=notice');
      const forged = await second.post('/index.php?page=notice', { csrf_token: 'nope' });
      expect(forged.status).to.equal(403);
      await h.dom.load(forged.body);
      expect(await h.dom.text('div.error')).to.equal('Invalid request token');
      // The first session's token does not acknowledge for the second.
      const firstToken = await tokenOf(h.client, h.dom, '/index.php?page=notice', 'form#noticeForm');
      expect((await second.post('/index.php?page=notice', { csrf_token: firstToken })).status).to.equal(403);
      const ack = await h.client.post('/index.php?page=notice', { csrf_token: firstToken });
      expect(ack.status).to.equal(302);
      // Acknowledged once: every session, and later logins, go straight through.
      expect((await second.get('/index.php?page=home')).status).to.equal(200);
      expect((await h.client.get('/index.php?page=home')).status).to.equal(200);
      const third = h.client.fresh();
      expect((await postLogin(third, h.dom)).status).to.equal(302);
      expect((await third.get('/index.php?page=home')).status).to.equal(200);
      // After a reset the next first login shows it again.
      await h.client.reset();
      const fourth = h.client.fresh();
      expect((await postLogin(fourth, h.dom)).status).to.equal(302);
      expect((await fourth.get('/index.php?page=home')).location).to.equal('/index.php?page=notice');
    });

    it('logout ends the session; / and /index.php redirect to the start page', async function () {
      expect((await h.client.get('/')).location).to.equal('/index.php?page=login');
      expect((await login(h.client, h.dom)).status).to.equal(302);
      expect((await h.client.get('/')).location).to.equal('/index.php?page=home');
      const out = await h.client.get('/index.php?page=logout');
      expect(out.status).to.equal(302);
      expect(out.location).to.equal('/index.php?page=login');
      expect((await h.client.get('/index.php?page=search')).location).to.equal('/index.php?page=login&expired=1');
      expect((await h.client.stats()).active_sessions).to.equal(0);
    });
  });

  describe('metrofiber: search and cancel', function () {
    beforeEach(async function () {
      expect((await login(h.client, h.dom)).status).to.equal(302);
    });

    it('serves the search form and shows errors for invalid and missing circuits', async function () {
      const res = await h.client.get('/index.php?page=search');
      expect(res.status).to.equal(200);
      await h.dom.load(res.body);
      expect(await h.dom.count('form#searchForm input[name=circuit]')).to.equal(1);
      expect(await h.dom.count('form#searchForm [type=submit]')).to.equal(1);
      await h.dom.load((await h.client.get('/index.php?page=search&circuit=MFN-12-34')).body);
      expect(await h.dom.text('div.error')).to.equal('Invalid circuit number');
      expect(await h.dom.count('tr.data-row')).to.equal(0);
      expect(await readGrid(h.client, h.dom, 'MFN-1234-5670')).to.deep.equal({ found: false });
    });

    it('serves the cancel form with the contract fields (cancelled circuits too)', async function () {
      for (const number of ['MFN-1111-2221', 'MFN-1111-2229']) {
        const res = await h.client.get(`/index.php?page=cancel&circuit=${number}`);
        expect(res.status).to.equal(200);
        await h.dom.load(res.body);
        const form = 'form#cancelForm';
        expect((await h.dom.attr(form, 'method'))?.toLowerCase()).to.equal('post');
        expect(await h.dom.attr(form, 'action')).to.equal(`/index.php?page=cancel&circuit=${number}`);
        expect(await h.dom.count(`${form} input[type=hidden][name=csrf_token]`)).to.equal(1);
        expect(await h.dom.optionValues(`${form} select[name=reason] option`)).to.deep.equal(['customer_request', 'non_payment', 'migration', 'other']);
        expect(await h.dom.count(`${form} input[name=effective_date]`)).to.equal(1);
        expect(await h.dom.count(`${form} input[name=confirm_text]`)).to.equal(1);
        expect(await h.dom.count(`${form} input[type=submit][name=submit_cancel]`)).to.equal(1);
      }
    });

    it('refuses a wrong confirm_text, an ISO or past or impossible date with the form again (200)', async function () {
      const bad: Array<Record<string, string>> = [
        { confirm_text: 'MFN-3333-4441 ' + 'x' },
        { confirm_text: '' },
        { effective_date: isoDay(1) },
        { effective_date: dmyDay(-1) },
        { effective_date: '31/04/2031' },
        { reason: 'whim' },
      ];
      for (const fields of bad) {
        const res = await submitCancel(h.client, h.dom, 'MFN-3333-4441', fields);
        expect(res.status, JSON.stringify(fields)).to.equal(200);
        await h.dom.load(res.body);
        expect(await h.dom.count('div.error'), JSON.stringify(fields)).to.equal(1);
        expect(await h.dom.count('form#cancelForm')).to.equal(1);
        expect(await h.dom.count('div.success')).to.equal(0);
      }
      const ok = await submitCancel(h.client, h.dom, 'MFN-3333-4441', { effective_date: dmyDay(7) });
      await h.dom.load(ok.body);
      expect(await h.dom.text('div.success span.ref')).to.equal('MFN-CAN-000001');
      // Already cancelled is answered before the other fields (but after the token).
      const again = await submitCancel(h.client, h.dom, 'MFN-3333-4441', { confirm_text: '', effective_date: 'x' });
      await h.dom.load(again.body);
      expect(await h.dom.text('div.warning span.ref')).to.equal('MFN-CAN-000001');
      expect((await h.client.stats()).duplicate_cancel_attempts).to.equal(1);
    });

    it('answers direct circuit URLs with 400 invalid and 404 missing', async function () {
      expect((await h.client.get('/index.php?page=cancel&circuit=MFN-1')).status).to.equal(400);
      expect((await h.client.get('/index.php?page=cancel&circuit=MFN-1234-5670')).status).to.equal(404);
      expect((await h.client.post('/index.php?page=cancel&circuit=MFN-1', {})).status).to.equal(400);
      expect((await h.client.post('/index.php?page=cancel&circuit=MFN-1234-5670', {})).status).to.equal(404);
    });
  });
});
