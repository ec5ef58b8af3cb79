import { expect } from 'chai';
import { evotelDescriptor } from '../../src/providers/evotel/descriptor.js';
import { describeCommonContract, usePortal, type PortalDriver, type ReadCircuit } from './support/common-contract.js';
import { isoDay } from './support/derived-expectations.js';
import { describeDrift, fieldsFor } from './support/drift-contract.js';
import type { HtmlInspector } from './support/html-inspector.js';
import type { PortalClient } from './support/portal-client.js';

const account = evotelDescriptor.practiceAccount;

async function login(c: PortalClient, password = account.password) {
  const first = await c.post('/account/login', { username: account.login });
  expect(first.status, first.body).to.equal(302);
  expect(first.location).to.equal('/account/password');
  expect((await c.get('/account/password')).status).to.equal(200);
  return c.post('/account/password', { password });
}

async function readService(c: PortalClient, dom: HtmlInspector, number: string): Promise<ReadCircuit> {
  const res = await c.get(`/services?type=circuit&query=${encodeURIComponent(number)}`);
  expect(res.status).to.equal(200);
  await dom.load(res.body);
  if ((await dom.count('div#empty')) > 0) {
    expect(await dom.text('div#empty')).to.equal('No services found');
    return { found: false };
  }
  const item = `div.service-item[data-circuit="${number}"]`;
  expect(await dom.count(item)).to.equal(1);
  const value = (name: string) => dom.text(`${item} div.field[data-name=${name}] span.value`);
  const cancellable = (await dom.count(`${item} a.request-cancel`)) === 1;
  if (cancellable) expect(await dom.attr(`${item} a.request-cancel`, 'href')).to.equal(`/services/${number}/cancel`);
  return {
    found: true,
    status: await value('status'),
    customer: await value('customer'),
    address: await value('address'),
    speed: await value('speed'),
    reference: (await dom.count(`${item} span.ticket-ref`)) ? await dom.text(`${item} span.ticket-ref`) : null,
    cancellable,
  };
}

const driver: PortalDriver = {
  name: 'evotel',
  account,
  prefix: 'EVO',
  number: (digits) => `EVO${digits.padStart(6, '0').slice(-6)}`,
  invalidNumber: 'EVO12345',
  sessionCookie: 'evotel_auth',
  login: (c) => login(c),
  expectLoggedIn(res) {
    expect(res.status, res.body).to.equal(302);
    expect(res.location).to.equal('/services');
  },
  async expectTooManySessions(res, dom) {
    expect(res.status).to.equal(200);
    await dom.load(res.body);
    expect(await dom.text('div.validation-error')).to.equal('Too many active sessions');
    expect(await dom.count('form#step-password')).to.equal(1);
  },
  guardedPath: '/services',
  expiredLocation: '/account/login?timeout=1',
  async expectExpiredPage(c, dom) {
    const res = await c.get('/account/login?timeout=1');
    expect(res.status).to.equal(200);
    await dom.load(res.body);
    expect(await dom.count('form#step-username')).to.equal(1);
  },
  read: readService,
  async cancel(c, dom, number) {
    const res = await c.post(`/services/${number}/cancel`, { reason: 'customer_request', effective_date: isoDay(0), comment: 'robot' });
    expect(res.status).to.equal(200);
    await dom.load(res.body);
    if ((await dom.count('div#ticket-exists')) > 0) return { already: true, reference: await dom.text('div#ticket-exists span#ticket-number') };
    return { already: false, reference: await dom.text('div#ticket span#ticket-number') };
  },
  expectUnavailable(res) {
    expect(res.status).to.equal(503);
    expect(res.body).to.contain('Service temporarily unavailable');
  },
  showStatus: (s) => s[0]!.toUpperCase() + s.slice(1),
};

describe('Evotel practice portal (SPEC.md contract)', function () {
  const h = usePortal('evotel', account);
  describeCommonContract(driver, h);
  describeDrift({
    name: 'evotel',
    client: () => h.client,
    dom: () => h.dom,
    portalUrl: () => h.portal.url,
    signedIn: async () => {
      const c = h.client.fresh();
      driver.expectLoggedIn(await login(c));
      return c;
    },
    loginPage: { path: '/account/login', selectors: ['form#step-username', 'form#step-username input[name=username]', 'button#next'] },
    pages: [
      {
        what: 'a found circuit',
        load: (c) => c.get('/services?type=circuit&query=EVO444441'),
        selectors: ['div.service-item[data-circuit="EVO444441"]', 'div.field[data-name=status] span.value', 'div.field[data-name=customer]', 'a.request-cancel'],
        shows: () => 'Customer 444441',
      },
      {
        what: 'a cancelled circuit',
        load: (c) => c.get('/services?type=circuit&query=EVO444449'),
        selectors: ['div.service-item', 'span.ticket-ref'],
        shows: () => 'EVO-CAN-944449',
      },
      { what: 'a circuit not found', load: (c) => c.get('/services?type=circuit&query=EVO444440'), selectors: ['div#empty'], shows: () => 'No services found' },
      { what: 'an invalid number', load: (c) => c.get('/services?type=circuit&query=EVO1'), selectors: ['div.validation-error'], shows: () => 'Invalid circuit number' },
      {
        what: 'the cancel form',
        load: (c) => c.get('/services/EVO444441/cancel'),
        selectors: ['form#cancel-request', 'select[name=reason]', 'input[name=effective_date]', 'textarea[name=comment]', 'button#send'],
        shows: () => 'EVO444441',
      },
      {
        what: 'a cancellation (posted with the field names of the page)',
        load: (c, _dom, round) => c.post(`/services/EVO44445${round + 1}/cancel`, fieldsFor(round, { reason: 'customer_request', effective_date: isoDay(0), comment: 'x' })),
        selectors: ['div#ticket', 'div#ticket span#ticket-number'],
        shows: (round) => `EVO-CAN-00000${round + 1}`,
      },
      { what: 'an already-cancelled answer', load: (c) => c.post('/services/EVO444449/cancel', {}), selectors: ['div#ticket-exists', 'span#ticket-number'], shows: () => 'EVO-CAN-944449' },
      {
        what: 'a refused cancellation (past date)',
        load: (c) => c.post('/services/EVO444461/cancel', { reason: 'other', effective_date: isoDay(-1) }),
        selectors: ['div.validation-error', 'form#cancel-request'],
        shows: () => 'Effective date cannot be in the past',
      },
    ],
  });

  describe('evotel: two-step sign-in', function () {
    it('serves the username step with the contract selectors', async function () {
      const res = await h.client.get('/account/login');
      expect(res.status).to.equal(200);
      await h.dom.load(res.body);
      expect(await h.dom.attr('form#step-username', 'action')).to.equal('/account/login');
      expect((await h.dom.attr('form#step-username', 'method'))?.toLowerCase()).to.equal('post');
      expect(await h.dom.count('form#step-username input[name=username]')).to.equal(1);
      expect(await h.dom.count('form#step-username button#next')).to.equal(1);
      expect(await h.dom.count('input[name=password]')).to.equal(0);
    });

    it('refuses an unknown username at the first step (div.validation-error, logins_failed)', async function () {
      const res = await h.client.post('/account/login', { username: 'nobody' });
      expect(res.status).to.equal(200);
      await h.dom.load(res.body);
      expect(await h.dom.count('div.validation-error')).to.equal(1);
      expect(await h.dom.count('form#step-username')).to.equal(1);
      expect(await h.dom.count('form#step-password')).to.equal(0);
      expect((await h.client.get('/account/password')).location).to.equal('/account/login');
      expect(await h.client.stats()).to.include({ logins_failed: 1, logins_ok: 0 });
    });

    it('redirects a known username to GET /account/password, the password step', async function () {
      const res = await h.client.post('/account/login', { username: account.login });
      expect(res.status).to.equal(302);
      expect(res.location).to.equal('/account/password');
      const step = await h.client.get('/account/password');
      expect(step.status).to.equal(200);
      await h.dom.load(step.body);
      expect(await h.dom.attr('form#step-password', 'action')).to.equal('/account/password');
      expect((await h.dom.attr('form#step-password', 'method'))?.toLowerCase()).to.equal('post');
      expect(await h.dom.count('form#step-password input[name=password]')).to.equal(1);
      expect(await h.dom.count('form#step-password button#signin')).to.equal(1);
    });

    it('refuses a bad password with div.validation-error and lets the step be retried', async function () {
      const bad = await login(h.client, 'wrong');
      expect(bad.status).to.equal(200);
      await h.dom.load(bad.body);
      expect(await h.dom.count('div.validation-error')).to.equal(1);
      expect(await h.dom.count('form#step-password')).to.equal(1);
      expect(h.client.cookies.has('evotel_auth')).to.equal(false);
      const good = await h.client.post('/account/password', { password: account.password });
      expect(good.status).to.equal(302);
      expect(good.location).to.equal('/services');
      expect(h.client.cookies.has('evotel_auth')).to.equal(true);
      expect(await h.client.stats()).to.include({ logins_failed: 1, logins_ok: 1, active_sessions: 1 });
    });

    it('without the first step, the password step goes back to /account/login', async function () {
      expect((await h.client.get('/account/password')).location).to.equal('/account/login');
      expect((await h.client.post('/account/password', { password: account.password })).location).to.equal('/account/login');
    });

    it('logout ends the session; / redirects to the start page', async function () {
      expect((await h.client.get('/')).location).to.equal('/account/login');
      await login(h.client);
      expect((await h.client.get('/')).location).to.equal('/services');
      const out = await h.client.get('/account/logout');
      expect(out.status).to.equal(302);
      expect(out.location).to.equal('/account/login');
      expect((await h.client.get('/services')).location).to.equal('/account/login?timeout=1');
      expect((await h.client.stats()).active_sessions).to.equal(0);
    });
  });

  describe('evotel: services and tickets', function () {
    beforeEach(async function () {
      expect((await login(h.client)).location).to.equal('/services');
    });

    it('serves the search form with the type select defaulting to address', async function () {
      const res = await h.client.get('/services');
      expect(res.status).to.equal(200);
      await h.dom.load(res.body);
      expect(await h.dom.attr('form#service-search', 'action')).to.equal('/services');
      expect((await h.dom.attr('form#service-search', 'method'))?.toLowerCase()).to.equal('get');
      expect(await h.dom.optionValues('form#service-search select#search-type[name=type] option')).to.deep.equal(['address', 'customer', 'circuit']);
      expect(await h.dom.value('select#search-type')).to.equal('address');
      expect(await h.dom.count('form#service-search input#query[name=query]')).to.equal(1);
      expect(await h.dom.count('form#service-search button#go')).to.equal(1);
      await h.dom.load((await h.client.get('/services?type=circuit&query=EVO123451')).body);
      expect(await h.dom.value('select#search-type')).to.equal('circuit');
    });

    it('answers a circuit number searched as another type with div#empty', async function () {
      for (const type of ['address', 'customer']) {
        await h.dom.load((await h.client.get(`/services?type=${type}&query=EVO123451`)).body);
        expect(await h.dom.text('div#empty'), type).to.equal('No services found');
        expect(await h.dom.count('div.service-item')).to.equal(0);
      }
      // A query without a type is an address search (the default).
      await h.dom.load((await h.client.get('/services?query=EVO123451')).body);
      expect(await h.dom.text('div#empty')).to.equal('No services found');
    });

    it('answers an invalid circuit number with div.validation-error', async function () {
      await h.dom.load((await h.client.get('/services?type=circuit&query=EVO1')).body);
      expect(await h.dom.count('div.validation-error')).to.equal(1);
      expect(await h.dom.count('div.service-item, div#empty')).to.equal(0);
    });

    it('shows status in Title case for every status', async function () {
      for (const [digit, status] of [['1', 'Active'], ['7', 'Pending'], ['8', 'Suspended'], ['9', 'Cancelled']] as const) {
        const got = await readService(h.client, h.dom, `EVO55555${digit}`);
        expect(got.found && got.status).to.equal(status);
      }
    });

    it('serves the cancel form with the contract fields, for cancelled circuits too', async function () {
      for (const number of ['EVO222221', 'EVO222229']) {
        const res = await h.client.get(`/services/${number}/cancel`);
        expect(res.status).to.equal(200);
        await h.dom.load(res.body);
        expect(await h.dom.attr('form#cancel-request', 'action')).to.equal(`/services/${number}/cancel`);
        expect((await h.dom.attr('form#cancel-request', 'method'))?.toLowerCase()).to.equal('post');
        expect(await h.dom.optionValues('form#cancel-request select[name=reason] option')).to.deep.equal(['customer_request', 'non_payment', 'migration', 'other']);
        expect(await h.dom.count('form#cancel-request input[name=effective_date]')).to.equal(1);
        expect(await h.dom.count('form#cancel-request textarea[name=comment]')).to.equal(1);
        expect(await h.dom.count('form#cancel-request button#send')).to.equal(1);
      }
    });

    it('issues the ticket number as the EVO-CAN reference and refuses a past or impossible date', async function () {
      for (const effective_date of [isoDay(-1), '2030-13-01', '2031-02-29', '01/01/2031', '']) {
        const res = await h.client.post('/services/EVO333331/cancel', { reason: 'other', effective_date, comment: '' });
        expect(res.status, effective_date).to.equal(200);
        await h.dom.load(res.body);
        expect(await h.dom.count('div.validation-error'), effective_date).to.equal(1);
        expect(await h.dom.count('form#cancel-request')).to.equal(1);
        expect(await h.dom.count('div#ticket')).to.equal(0);
      }
      const ok = await h.client.post('/services/EVO333331/cancel', { reason: 'non_payment', effective_date: isoDay(10), comment: 'thanks <b>' });
      await h.dom.load(ok.body);
      expect(await h.dom.text('div#ticket span#ticket-number')).to.equal('EVO-CAN-000001');
      // Already cancelled is answered before the other fields are looked at.
      const again = await h.client.post('/services/EVO333331/cancel', {});
      await h.dom.load(again.body);
      expect(await h.dom.text('div#ticket-exists span#ticket-number')).to.equal('EVO-CAN-000001');
      expect((await h.client.stats()).duplicate_cancel_attempts).to.equal(1);
    });

    it('answers direct circuit URLs with 400 invalid and 404 missing', async function () {
      expect((await h.client.get('/services/EVO1/cancel')).status).to.equal(400);
      expect((await h.client.get('/services/EVO123450/cancel')).status).to.equal(404);
      expect((await h.client.post('/services/EVO1/cancel', {})).status).to.equal(400);
      expect((await h.client.post('/services/EVO123450/cancel', {})).status).to.equal(404);
    });
  });
});
