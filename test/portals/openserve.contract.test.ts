import { expect } from 'chai';
import type { Browser, BrowserContext, Page, Request as PwRequest } from 'playwright-core';
import { openserveDescriptor } from '../../src/providers/openserve/descriptor.js';
import { describeCommonContract, usePortal, type PortalDriver, type ReadCircuit } from './support/common-contract.js';
import { expectedCircuit, isoDay } from './support/derived-expectations.js';
import { describeDriftConfig } from './support/drift-contract.js';
import { launchChromium } from './support/html-inspector.js';
import type { PortalClient } from './support/portal-client.js';

const account = openserveDescriptor.practiceAccount;

function signin(c: PortalClient, password = account.password) {
  return c.post('/signin', { email: account.login, password });
}

async function apiJson(c: PortalClient, method: string, path: string, json?: unknown) {
  const res = await c.request(method, path, json === undefined ? {} : { json });
  expect(res.headers.get('content-type') ?? '', `${method} ${path}`).to.match(/^application\/json/);
  return { status: res.status, json: JSON.parse(res.body) as Record<string, any> };
}

const driver: PortalDriver = {
  name: 'openserve',
  account,
  prefix: 'OSN',
  number: (digits) => `OSN${digits.padStart(7, '0').slice(-7)}`,
  invalidNumber: 'OSN123456',
  sessionCookie: 'openserve_session',
  login: (c) => signin(c),
  expectLoggedIn(res) {
    expect(res.status, res.body).to.equal(302);
    expect(res.location).to.equal('/app');
  },
  async expectTooManySessions(res, dom) {
    expect(res.status).to.equal(200);
    await dom.load(res.body);
    expect(await dom.text('[data-testid=signin-error]')).to.equal('Too many active sessions');
  },
  guardedPath: '/app',
  expiredLocation: '/signin?expired=1',
  async expectExpiredPage(c, dom) {
    const res = await c.get('/signin?expired=1');
    expect(res.status).to.equal(200);
    await dom.load(res.body);
    expect(await dom.count('form[data-testid=signin-form]')).to.equal(1);
  },
  async read(c, _dom, number): Promise<ReadCircuit> {
    const res = await apiJson(c, 'GET', `/api/circuits/${number}`);
    if (res.status === 404) return { found: false };
    expect(res.status).to.equal(200);
    expect(Object.keys(res.json)).to.deep.equal(['circuitNumber', 'status', 'customer', 'address', 'speed', 'reference']);
    expect(res.json.circuitNumber).to.equal(number);
    const { status, customer, address, speed, reference } = res.json;
    return { found: true, status, customer, address, speed, reference, cancellable: status !== 'cancelled' };
  },
  async cancel(c, _dom, number) {
    const res = await apiJson(c, 'POST', `/api/circuits/${number}/cancel`, { reason: 'customer_request', effectiveDate: isoDay(0) });
    if (res.status === 409) {
      expect(res.json).to.include({ error: 'already_cancelled' });
      expect(res.json.circuit.circuitNumber).to.equal(number);
      return { already: true, reference: res.json.reference };
    }
    expect(res.status, JSON.stringify(res.json)).to.equal(200);
    expect(res.json.circuit).to.include({ circuitNumber: number, status: 'cancelled', reference: res.json.reference });
    return { already: false, reference: res.json.reference };
  },
  expectUnavailable(res) {
    expect(res.status).to.equal(503);
    expect(res.body).to.contain('Service temporarily unavailable');
  },
  showStatus: (s) => s,
};

describe('Openserve practice portal (SPEC.md contract)', function () {
  const h = usePortal('openserve', account);
  describeCommonContract(driver, h);
  describeDriftConfig('openserve', () => h.client, () => h.portal.url);

  describe('openserve: sign-in and API over HTTP', function () {
    it('serves the sign-in form with the contract selectors', async function () {
      const res = await h.client.get('/signin');
      expect(res.status).to.equal(200);
      await h.dom.load(res.body);
      const form = 'form[data-testid=signin-form]';
      expect((await h.dom.attr(form, 'method'))?.toLowerCase()).to.equal('post');
      expect(await h.dom.attr(form, 'action')).to.equal('/signin');
      expect(await h.dom.count(`${form} input[name=email]`)).to.equal(1);
      expect(await h.dom.count(`${form} input[name=password]`)).to.equal(1);
      expect(await h.dom.count(`${form} button[type=submit]`)).to.equal(1);
    });

    it('refuses bad credentials with [data-testid=signin-error]', async function () {
      const res = await signin(h.client, 'nope');
      expect(res.status).to.equal(200);
      await h.dom.load(res.body);
      expect(await h.dom.count('[data-testid=signin-error]')).to.equal(1);
      expect(h.client.cookies.size).to.equal(0);
      expect(await h.client.stats()).to.include({ logins_failed: 1 });
    });

    it('signs in with openserve_session and 302 to /app; /signout ends the session', async function () {
      expect((await h.client.get('/')).location).to.equal('/signin');
      const res = await signin(h.client);
      expect(res.status).to.equal(302);
      expect(res.location).to.equal('/app');
      expect(h.client.cookies.has('openserve_session')).to.equal(true);
      expect((await h.client.get('/')).location).to.equal('/app');
      const out = await h.client.post('/signout');
      expect(out.status).to.equal(302);
      expect((await h.client.get('/app')).location).to.equal('/signin?expired=1');
      expect((await h.client.stats()).active_sessions).to.equal(0);
    });

    it('serves /app without circuit data: the page holds the search controls and a script only', async function () {
      await h.client.seed({ circuit_number: 'OSN7654321', status: 'active', customer: 'Seeded Customer', address: 'Seeded Road', speed: '1000/500 Mbps' });
      await signin(h.client);
      const res = await h.client.get('/app');
      expect(res.status).to.equal(200);
      for (const text of ['OSN7654321', 'Seeded Customer', 'Seeded Road', 'Fibre Street', 'Customer 7']) expect(res.body).to.not.include(text);
      await h.dom.load(res.body); // scripts off: what the HTML holds as served
      expect(await h.dom.count('[data-testid=circuit-card], [data-field], [data-testid=not-found]')).to.equal(0);
      expect(await h.dom.count('input[data-testid=search-input]')).to.equal(1);
      expect(await h.dom.count('button[data-testid=search-button]')).to.equal(1);
    });

    it('API: 401 without a session, 400 invalid, 404 missing, JSON errors with error and message', async function () {
      const anon = await apiJson(h.client, 'GET', '/api/circuits/OSN1234561');
      expect(anon.status).to.equal(401);
      expect(anon.json.error).to.be.a('string');
      expect((await apiJson(h.client, 'POST', '/api/circuits/OSN1234561/cancel', {})).status).to.equal(401);
      await signin(h.client);
      const invalid = await apiJson(h.client, 'GET', '/api/circuits/OSN12');
      expect(invalid.status).to.equal(400);
      expect(invalid.json).to.have.keys('error', 'message');
      const missing = await apiJson(h.client, 'GET', '/api/circuits/OSN1234560');
      expect(missing.status).to.equal(404);
      expect(missing.json).to.have.keys('error', 'message');
      expect((await apiJson(h.client, 'POST', '/api/circuits/OSN12/cancel', {})).status).to.equal(400);
      expect((await apiJson(h.client, 'POST', '/api/circuits/OSN1234560/cancel', {})).status).to.equal(404);
    });

    it('API cancel: 400 for a past, impossible or missing date and a bad reason; 409 before other fields', async function () {
      await signin(h.client);
      for (const body of [
        { reason: 'customer_request', effectiveDate: isoDay(-1) },
        { reason: 'customer_request', effectiveDate: '2031-02-31' },
        { reason: 'customer_request' },
        { reason: 'bored', effectiveDate: isoDay(0) },
      ]) {
        const res = await apiJson(h.client, 'POST', '/api/circuits/OSN1111111/cancel', body);
        expect(res.status, JSON.stringify(body)).to.equal(400);
        expect(res.json).to.have.keys('error', 'message');
      }
      const ok = await apiJson(h.client, 'POST', '/api/circuits/OSN1111111/cancel', { reason: 'migration', effectiveDate: isoDay(3) });
      expect(ok.status).to.equal(200);
      expect(ok.json.reference).to.equal('OSN-CAN-000001');
      const dup = await apiJson(h.client, 'POST', '/api/circuits/OSN1111111/cancel', {});
      expect(dup.status).to.equal(409);
      expect(dup.json).to.include({ error: 'already_cancelled', reference: 'OSN-CAN-000001' });
      expect((await h.client.stats()).duplicate_cancel_attempts).to.equal(1);
    });

    it('an injected 503 on /api/* is JSON {"error":"Service temporarily unavailable"}; HTML elsewhere', async function () {
      await signin(h.client);
      await h.client.configure({ error_rate: 1 });
      const api = await h.client.get('/api/circuits/OSN1234561');
      expect(api.status).to.equal(503);
      expect(JSON.parse(api.body)).to.deep.equal({ error: 'Service temporarily unavailable' });
      const page = await h.client.get('/app');
      expect(page.status).to.equal(503);
      expect(page.headers.get('content-type')).to.match(/^text\/html/);
      expect(page.body).to.contain('Service temporarily unavailable');
    });
  });

  describe('openserve: client rendering in Chromium', function () {
    let browser: Browser;
    let context: BrowserContext;
    let page: Page;

    before(async function () {
      browser = await launchChromium();
    });
    after(async function () {
      await browser?.close();
    });
    beforeEach(async function () {
      context = await browser.newContext();
      context.setDefaultTimeout(10_000);
      page = await context.newPage();
      await page.goto(`${h.portal.url}/signin`);
      await page.locator('input[name=email]').fill(account.login);
      await page.locator('input[name=password]').fill(account.password);
      await page.locator('form[data-testid=signin-form] button[type=submit]').click();
      await page.waitForURL(`${h.portal.url}/app`);
    });
    afterEach(async function () {
      await context?.close();
    });

    async function search(number: string): Promise<void> {
      await page.locator('input[data-testid=search-input]').fill(number);
      await page.locator('button[data-testid=search-button]').click();
    }

    it('fetches /api/circuits/<n> about 200 ms after the search and renders the card', async function () {
      let apiRequest: { at: number; url: string } | undefined;
      page.on('request', (r: PwRequest) => {
        if (r.url().includes('/api/circuits/')) apiRequest = { at: Date.now(), url: r.url() };
      });
      await page.locator('input[data-testid=search-input]').fill('OSN2345672');
      const clicked = Date.now();
      await page.locator('button[data-testid=search-button]').click();
      const card = page.locator('div[data-testid=circuit-card]');
      await card.waitFor();
      expect(apiRequest?.url).to.equal(`${h.portal.url}/api/circuits/OSN2345672`);
      expect(apiRequest!.at - clicked).to.be.at.least(150);
      const want = expectedCircuit('OSN2345672', 'OSN')!;
      expect(await card.locator('span[data-field=circuit]').textContent()).to.equal('OSN2345672');
      expect(await card.locator('span[data-field=status]').textContent()).to.equal('active');
      expect(await card.locator('span[data-field=customer]').textContent()).to.equal(want.customer);
      expect(await card.locator('span[data-field=address]').textContent()).to.equal(want.address);
      expect(await card.locator('span[data-field=speed]').textContent()).to.equal(want.speed);
      expect(await card.locator('span[data-field=reference]').count()).to.equal(0);
      expect(await card.locator('button[data-testid=cancel-button]').count()).to.equal(1);
    });

    it('renders a cancelled circuit with its reference and without a cancel button', async function () {
      await search('OSN2345679');
      const card = page.locator('div[data-testid=circuit-card]');
      await card.waitFor();
      expect(await card.locator('span[data-field=status]').textContent()).to.equal('cancelled');
      expect(await card.locator('span[data-field=reference]').textContent()).to.equal(expectedCircuit('OSN2345679', 'OSN')!.reference);
      expect(await card.locator('button[data-testid=cancel-button]').count()).to.equal(0);
    });

    it('renders not-found, search-error with data-status (400 and an injected 503), session-expired with a link to /signin', async function () {
      await search('OSN2345670');
      await page.locator('div[data-testid=not-found]').waitFor();
      await search('OSN23');
      const invalid = page.locator('div[data-testid=search-error]');
      await invalid.waitFor();
      expect(await invalid.getAttribute('data-status')).to.equal('400');
      await h.client.configure({ error_rate: 1 });
      await search('OSN2345671');
      await page.locator('div[data-testid=search-error][data-status="503"]').waitFor();
      await h.client.configure({ error_rate: 0 });
      await h.client.reset(); // ends every session
      await search('OSN2345671');
      const expired = page.locator('div[data-testid=session-expired]');
      await expired.waitFor();
      expect(await expired.locator('a').getAttribute('href')).to.equal('/signin');
      await page.goto(`${h.portal.url}/app`);
      expect(page.url()).to.equal(`${h.portal.url}/signin?expired=1`);
    });

    it('cancels through the dialog: toast "Cancellation submitted: <ref>" and the card re-renders as cancelled', async function () {
      await search('OSN3456781');
      await page.locator('button[data-testid=cancel-button]').click();
      const dialog = page.locator('div[role=dialog][data-testid=cancel-dialog]');
      await dialog.waitFor();
      expect(await dialog.locator('select[name=reason] option').evaluateAll((os) => os.map((o) => o.getAttribute('value')))).to.deep.equal([
        'customer_request',
        'non_payment',
        'migration',
        'other',
      ]);
      // A past date is refused: the dialog stays with an error.
      await dialog.locator('input[name=effectiveDate]').fill(isoDay(-2));
      await dialog.locator('button[data-testid=confirm-cancel]').click();
      await dialog.locator('[data-testid=cancel-error][data-status="400"]').waitFor();
      expect((await h.client.stats()).cancellations).to.deep.equal({});
      await dialog.locator('select[name=reason]').selectOption('non_payment');
      await dialog.locator('input[name=effectiveDate]').fill(isoDay(1));
      await dialog.locator('button[data-testid=confirm-cancel]').click();
      const toast = page.locator('div[data-testid=toast]');
      await toast.waitFor();
      expect(await toast.textContent()).to.equal('Cancellation submitted: OSN-CAN-000001');
      await dialog.waitFor({ state: 'detached' });
      const card = page.locator('div[data-testid=circuit-card]');
      expect(await card.locator('span[data-field=status]').textContent()).to.equal('cancelled');
      expect(await card.locator('span[data-field=reference]').textContent()).to.equal('OSN-CAN-000001');
      expect(await card.locator('button[data-testid=cancel-button]').count()).to.equal(0);
      expect((await h.client.stats()).cancellations).to.deep.equal({ OSN3456781: 1 });
    });

    it('shows the toast "Circuit already cancelled: <reference>" when the API answers 409', async function () {
      await search('OSN3456782');
      await page.locator('button[data-testid=cancel-button]').click();
      // Cancelled behind the page's back: seeding as cancelled takes OSN-CAN-000001.
      await h.client.seed({ circuit_number: 'OSN3456782', status: 'cancelled', customer: 'X', address: 'Y', speed: '25/25 Mbps' });
      await page.locator('button[data-testid=confirm-cancel]').click();
      const toast = page.locator('div[data-testid=toast]');
      await toast.waitFor();
      expect(await toast.textContent()).to.equal('Circuit already cancelled: OSN-CAN-000001');
      expect(await page.locator('div[data-testid=circuit-card] span[data-field=reference]').textContent()).to.equal('OSN-CAN-000001');
      expect((await h.client.stats()).duplicate_cancel_attempts).to.equal(1);
    });

    it('drift: while on, what the app renders for circuits matches none of its SPEC.md selectors, with the same data; off again, all match', async function () {
      const selectors = {
        card: ['div[data-testid=circuit-card]', 'span[data-field=circuit]', 'span[data-field=status]', 'span[data-field=customer]', 'button[data-testid=cancel-button]'],
        dialog: ['div[role=dialog][data-testid=cancel-dialog]', 'select[name=reason]', 'input[name=effectiveDate]', 'button[data-testid=confirm-cancel]'],
        toast: ['div[data-testid=toast]'],
        notFound: ['div[data-testid=not-found]'],
        failed: ['div[data-testid=search-error]'],
      };
      const expectCount = async (group: readonly string[], on: boolean) => {
        for (const selector of group) {
          const count = await page.locator(selector).count();
          if (on) expect(count, `drift on: ${selector}`).to.equal(0);
          else expect(count, `drift off: ${selector}`).to.be.greaterThan(0);
        }
      };
      for (const [on, number, reference] of [[true, 'OSN4444441', 'OSN-CAN-000001'], [false, 'OSN4444442', 'OSN-CAN-000002']] as const) {
        await h.client.configure({ drift: on });
        await page.goto(`${h.portal.url}/app`);
        // The search box is not a circuit page; the data and the rules stay.
        expect(await page.locator('input[data-testid=search-input]').count()).to.equal(1);
        await search(number);
        await page.getByText(expectedCircuit(number, 'OSN')!.customer, { exact: true }).waitFor();
        await expectCount(selectors.card, on);
        await page.getByRole('button', { name: 'Cancel circuit' }).click();
        await page.getByRole('dialog').waitFor();
        await expectCount(selectors.dialog, on);
        await page.getByRole('button', { name: 'Confirm cancellation' }).click();
        await page.getByText(`Cancellation submitted: ${reference}`).waitFor();
        await expectCount(selectors.toast, on);
        await search('OSN4444440');
        await page.getByText('No circuit found for OSN4444440').waitFor();
        await expectCount(selectors.notFound, on);
        await search('OSN44');
        await page.getByText('Invalid circuit number').waitFor();
        await expectCount(selectors.failed, on);
      }
      expect((await h.client.stats()).cancellations).to.deep.equal({ OSN4444441: 1, OSN4444442: 1 });
    });

    it('renders data as text, never as markup', async function () {
      await h.client.seed({ circuit_number: 'OSN9999991', status: 'active', customer: '<img src=x onerror="window.pwned=1">', address: '<b>bold</b>', speed: '1/1' });
      await search('OSN9999991');
      const card = page.locator('div[data-testid=circuit-card]');
      await card.waitFor();
      expect(await card.locator('span[data-field=customer]').textContent()).to.equal('<img src=x onerror="window.pwned=1">');
      expect(await card.locator('img, b').count()).to.equal(0);
      expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).to.equal(undefined);
    });
  });
});
