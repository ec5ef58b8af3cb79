import { expect } from 'chai';
import { startPracticePortal, type PracticeAccount, type PracticePortal } from '../../../src/portals/practice-portals.js';
import { elapse, expectedCircuit } from './derived-expectations.js';
import { HtmlInspector } from './html-inspector.js';
import { PortalClient, type PortalResponse } from './portal-client.js';

/** What a circuit looks like through a portal's own pages. */
export type ReadCircuit =
  | { found: false }
  | { found: true; status: string; customer: string; address: string; speed: string; reference: string | null; cancellable: boolean };

/** How the shared contract checks drive one portal through its own pages. */
export interface PortalDriver {
  name: string;
  account: PracticeAccount;
  prefix: string;
  /** A valid circuit number whose digits, as one string, end with `digits` (padded with leading zeros). */
  number(digits: string): string;
  /** An invalid circuit number for this portal. */
  invalidNumber: string;
  sessionCookie: string;
  /** Runs the whole login and returns the final step's response. */
  login(c: PortalClient, dom: HtmlInspector): Promise<PortalResponse>;
  /** Asserts that a final login response is a success. */
  expectLoggedIn(res: PortalResponse): void;
  /** Asserts that the response refuses the login with "Too many active sessions" in the right element. */
  expectTooManySessions(res: PortalResponse, dom: HtmlInspector): Promise<void>;
  /** A page that needs a session, and where a request without one is sent. */
  guardedPath: string;
  expiredLocation: string;
  /** Asserts what the expired redirect's page shows. */
  expectExpiredPage(c: PortalClient, dom: HtmlInspector): Promise<void>;
  read(c: PortalClient, dom: HtmlInspector, circuitNumber: string): Promise<ReadCircuit>;
  /** Submits a valid cancellation; returns the reference and whether it was already cancelled. */
  cancel(c: PortalClient, dom: HtmlInspector, circuitNumber: string): Promise<{ already: boolean; reference: string }>;
  /** Asserts the response is the injected 503. */
  expectUnavailable(res: PortalResponse): void;
  /** Upper-, lower- or title-case form of a status as the portal shows it. */
  showStatus(status: string): string;
}

export interface PortalHarness {
  portal: PracticePortal;
  dom: HtmlInspector;
  client: PortalClient;
}

/**
 * Starts the portal and a Chromium-backed HTML inspector for a describe block; resets the
 * portal before each test.
 */
export function usePortal(name: string, account: PracticeAccount): PortalHarness {
  const h = {} as PortalHarness;
  before(async function () {
    h.portal = await startPracticePortal(name, { port: 0, account });
    h.dom = await HtmlInspector.start();
  });
  after(async function () {
    await h.dom?.close();
    await h.portal?.close();
  });
  beforeEach(async function () {
    h.client = new PortalClient(h.portal.url);
    await h.client.reset();
  });
  return h;
}

/** The rules SPEC.md fixes for every portal, checked through this portal's own pages. */
export function describeCommonContract(driver: PortalDriver, h: PortalHarness): void {
  describe(`${driver.name}: rules common to every portal`, function () {
    async function signedIn(): Promise<PortalClient> {
      const c = h.client.fresh();
      driver.expectLoggedIn(await driver.login(c, h.dom));
      expect(c.cookies.has(driver.sessionCookie), `cookie ${driver.sessionCookie}`).to.equal(true);
      return c;
    }

    it('derives every last digit (status, customer, address, speed, cancelled reference)', async function () {
      const c = await signedIn();
      for (let d = 0; d <= 9; d++) {
        const number = driver.number(`${(d * 7) % 10}4${d}`);
        const want = expectedCircuit(number, driver.prefix);
        const got = await driver.read(c, h.dom, number);
        if (!want) {
          expect(got.found, number).to.equal(false);
          continue;
        }
        expect(got, number).to.deep.equal({
          found: true,
          status: driver.showStatus(want.status),
          customer: want.customer,
          address: want.address,
          speed: want.speed,
          reference: want.reference,
          cancellable: want.status !== 'cancelled',
        });
      }
    });

    it('derives every speed from the second-last digit', async function () {
      const c = await signedIn();
      for (let e = 0; e <= 9; e++) {
        const number = driver.number(`${e}3`);
        const got = await driver.read(c, h.dom, number);
        expect(got.found && got.speed, number).to.equal(expectedCircuit(number, driver.prefix)!.speed);
      }
    });

    it('cancels with the per-portal sequence and answers a second submission as already cancelled', async function () {
      const c = await signedIn();
      const first = await driver.cancel(c, h.dom, driver.number('11'));
      expect(first).to.deep.equal({ already: false, reference: `${driver.prefix}-CAN-000001` });
      const read = await driver.read(c, h.dom, driver.number('11'));
      expect(read).to.include({ found: true, status: driver.showStatus('cancelled'), reference: `${driver.prefix}-CAN-000001`, cancellable: false });
      expect(await driver.cancel(c, h.dom, driver.number('11'))).to.deep.equal({ already: true, reference: `${driver.prefix}-CAN-000001` });
      expect(await driver.cancel(c, h.dom, driver.number('27'))).to.deep.equal({ already: false, reference: `${driver.prefix}-CAN-000002` });
      expect(await driver.cancel(c, h.dom, driver.number('38'))).to.deep.equal({ already: false, reference: `${driver.prefix}-CAN-000003` });
      const derivedRef = expectedCircuit(driver.number('12349'), driver.prefix)!.reference!;
      expect(await driver.cancel(c, h.dom, driver.number('12349'))).to.deep.equal({ already: true, reference: derivedRef });
      const stats = await h.client.stats();
      expect(stats.cancellations).to.deep.equal({ [driver.number('11')]: 1, [driver.number('27')]: 1, [driver.number('38')]: 1 });
      expect(stats.duplicate_cancel_attempts).to.equal(2);
    });

    it('seeds an array, a single object and "missing"; a seeded cancelled circuit takes the sequence', async function () {
      await h.client.seed([
        { circuit_number: driver.number('51'), status: 'pending', customer: 'Acme & <Sons>', address: '9 Dock Road', speed: '200/100 Mbps' },
        { circuit_number: driver.number('52'), status: 'missing' },
      ]);
      await h.client.seed({ circuit_number: driver.number('53'), status: 'cancelled', customer: 'Old Co', address: '1 Gone Lane', speed: '50/50 Mbps' });
      const c = await signedIn();
      expect(await driver.read(c, h.dom, driver.number('51'))).to.deep.equal({
        found: true,
        status: driver.showStatus('pending'),
        customer: 'Acme & <Sons>',
        address: '9 Dock Road',
        speed: '200/100 Mbps',
        reference: null,
        cancellable: true,
      });
      expect(await driver.read(c, h.dom, driver.number('52'))).to.deep.equal({ found: false });
      expect(await driver.read(c, h.dom, driver.number('53'))).to.include({ status: driver.showStatus('cancelled'), reference: `${driver.prefix}-CAN-000001` });
      expect(await driver.cancel(c, h.dom, driver.number('51'))).to.deep.equal({ already: false, reference: `${driver.prefix}-CAN-000002` });
      expect((await h.client.control('circuits', { circuit_number: driver.invalidNumber, status: 'active' })).status).to.equal(400);
      expect((await h.client.control('circuits', [{ circuit_number: driver.number('54'), status: 'closed' }])).status).to.equal(400);
    });

    it('reset clears sessions, stats, cancellations, seeds, the sequence and config', async function () {
      await h.client.configure({ max_sessions: 2, session_idle_s: 30 });
      await h.client.seed({ circuit_number: driver.number('61'), status: 'missing' });
      const c = await signedIn();
      await driver.cancel(c, h.dom, driver.number('62'));
      await h.client.reset();
      expect(await h.client.stats()).to.deep.equal({
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
      expect(await fetch(`${h.portal.url}/__sandbox/config`).then((r) => r.json())).to.deep.equal({
        latency_ms: 0,
        login_delay_ms: 0,
        error_rate: 0,
        session_idle_s: 600,
        max_sessions: 5,
        totp_window: 1,
        drift: false,
      });
      const res = await c.get(driver.guardedPath);
      expect(res.status).to.equal(302);
      expect(res.location).to.equal(driver.expiredLocation);
      const again = await signedIn();
      expect((await driver.read(again, h.dom, driver.number('61'))).found).to.equal(true);
      expect(await driver.read(again, h.dom, driver.number('62'))).to.include({ status: driver.showStatus('active') });
      expect(await driver.cancel(again, h.dom, driver.number('62'))).to.deep.equal({ already: false, reference: `${driver.prefix}-CAN-000001` });
    });

    it('faults knob (not in SPEC.md): carries out the next cancellations, then loses their answers; reset clears it', async function () {
      const c = await signedIn();
      expect(await fetch(`${h.portal.url}/__sandbox/faults`).then((r) => r.json())).to.deep.equal({ lose_cancel_answers: 0, as: 'reset' });
      for (const [as, digits] of [['503', '71'], ['reset', '72']] as const) {
        const set = await h.client.control('faults', { lose_cancel_answers: 1, as });
        expect(set).to.deep.equal({ status: 200, json: { lose_cancel_answers: 1, as } });
        await driver.cancel(c, h.dom, driver.number(digits)).then(
          () => expect.fail(`the answer (${as}) should have been lost`),
          () => undefined,
        );
        expect(await driver.read(c, h.dom, driver.number(digits))).to.include({ status: driver.showStatus('cancelled'), cancellable: false });
      }
      const stats = await h.client.stats();
      expect(stats.cancellations).to.deep.equal({ [driver.number('71')]: 1, [driver.number('72')]: 1 });
      expect(stats.duplicate_cancel_attempts).to.equal(0);
      // Used up: the next answer arrives.
      expect(await driver.cancel(c, h.dom, driver.number('73'))).to.deep.equal({ already: false, reference: `${driver.prefix}-CAN-000003` });
      for (const bad of [{ lose_cancel_answers: -1 }, { lose_cancel_answers: 1.5 }, { as: 'timeout' }, { other: 1 }, [1]]) {
        expect((await h.client.control('faults', bad)).status, JSON.stringify(bad)).to.equal(400);
      }
      await h.client.control('faults', { lose_cancel_answers: 5, as: '503' });
      await h.client.reset();
      expect(await fetch(`${h.portal.url}/__sandbox/faults`).then((r) => r.json())).to.deep.equal({ lose_cancel_answers: 0, as: 'reset' });
    });

    it('config: GET returns it, POST returns the whole config, unknown or out-of-range keys answer 400', async function () {
      const ok = await h.client.control('config', { login_delay_ms: 10, max_sessions: 7 });
      expect(ok.status).to.equal(200);
      expect(ok.json).to.deep.equal({ latency_ms: 0, login_delay_ms: 10, error_rate: 0, session_idle_s: 600, max_sessions: 7, totp_window: 1, drift: false });
      for (const body of [{ bogus: 1 }, { error_rate: 2 }, { max_sessions: 0 }, { latency_ms: -5 }, { session_idle_s: 'x' }, null]) {
        expect((await h.client.control('config', body)).status, JSON.stringify(body)).to.equal(400);
      }
      expect(await fetch(`${h.portal.url}/__sandbox/config`).then((r) => r.json())).to.include({ login_delay_ms: 10, max_sessions: 7 });
    });

    it('sends requests without a live session to the expired redirect; idle expiry after session_idle_s', async function () {
      const res = await h.client.get(driver.guardedPath);
      expect(res.status).to.equal(302);
      expect(res.location).to.equal(driver.expiredLocation);
      await driver.expectExpiredPage(h.client, h.dom);
      await h.client.configure({ session_idle_s: 1 });
      const c = await signedIn();
      expect((await c.get(driver.guardedPath)).status).to.equal(200);
      expect((await h.client.stats()).active_sessions).to.equal(1);
      await elapse(1100);
      expect((await h.client.stats()).active_sessions).to.equal(0);
      const expired = await c.get(driver.guardedPath);
      expect(expired.status).to.equal(302);
      expect(expired.location).to.equal(driver.expiredLocation);
    });

    it('refuses a login beyond max_sessions with "Too many active sessions"; older sessions live on', async function () {
      await h.client.configure({ max_sessions: 2 });
      const a = await signedIn();
      const b = await signedIn();
      const refused = h.client.fresh();
      await driver.expectTooManySessions(await driver.login(refused, h.dom), h.dom);
      expect(refused.cookies.has(driver.sessionCookie)).to.equal(false);
      expect((await a.get(driver.guardedPath)).status).to.equal(200);
      expect((await b.get(driver.guardedPath)).status).to.equal(200);
      const stats = await h.client.stats();
      expect(stats).to.include({ logins_ok: 2, logins_failed: 1, active_sessions: 2 });
      await h.client.configure({ max_sessions: 3 });
      await signedIn();
    });

    it('adds login_delay_ms to the final login step', async function () {
      await h.client.configure({ login_delay_ms: 400 });
      const started = Date.now();
      driver.expectLoggedIn(await driver.login(h.client.fresh(), h.dom));
      expect(Date.now() - started).to.be.at.least(390);
    });

    it('error_rate: 503 "Service temporarily unavailable", counted in requests and errors_injected; never on /__sandbox', async function () {
      await h.client.get(driver.guardedPath);
      await h.client.configure({ error_rate: 1 });
      for (let i = 0; i < 3; i++) driver.expectUnavailable(await h.client.get(driver.guardedPath));
      expect((await fetch(`${h.portal.url}/__sandbox/stats`)).status).to.equal(200);
      const stats = await h.client.stats();
      expect(stats.requests).to.equal(4);
      expect(stats.errors_injected).to.equal(3);
      await h.client.configure({ error_rate: 0 });
      expect((await h.client.get(driver.guardedPath)).status).to.equal(302);
    });

    it('latency_ms delays portal responses, not the control API', async function () {
      await h.client.configure({ latency_ms: 1200 });
      let started = Date.now();
      await h.client.get(driver.guardedPath);
      expect(Date.now() - started).to.be.at.least(1190);
      started = Date.now();
      await h.client.stats();
      expect(Date.now() - started).to.be.below(900);
    });

    it('totp fields stay 0 on a portal without TOTP', async function () {
      await signedIn();
      expect(await h.client.stats()).to.include({ totp_ok: 0, totp_rejected_reused: 0, totp_rejected_invalid: 0, logins_ok: 1 });
    });
  });
}
