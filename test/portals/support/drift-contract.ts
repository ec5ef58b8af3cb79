import { expect } from 'chai';
import { DRIFT_PREFIX } from '../../../src/portals/core/drift.js';
import type { HtmlInspector } from './html-inspector.js';
import type { PortalClient, PortalResponse } from './portal-client.js';

/** A circuit page and the selectors SPEC.md fixes on it. */
export interface DriftPage {
  what: string;
  /**
   * Loads (or submits) the page with a signed-in client. `round` 0 runs with drift on, 1 with
   * it off again: a page that cancels takes a circuit of its own per round.
   */
  load(c: PortalClient, dom: HtmlInspector, round: number): Promise<PortalResponse>;
  selectors: readonly string[];
  /** Text the page shows whatever its markup: the data stay the same. */
  shows(round: number): string;
}

export interface DriftSubject {
  name: string;
  client(): PortalClient;
  dom(): HtmlInspector;
  portalUrl(): string;
  /** A fresh client signed in through the login pages (asserting that the login worked). */
  signedIn(): Promise<PortalClient>;
  /** The first login page and selectors of it, which drift leaves alone. */
  loginPage: { path: string; selectors: readonly string[] };
  pages: readonly DriftPage[];
}

/** `drift` in the control config: a boolean, off by default and after a reset. */
export function describeDriftConfig(name: string, client: () => PortalClient, portalUrl: () => string): void {
  describe(`${name}: drift in the control config`, function () {
    it('is false by default, set with a boolean only, and false again after a reset', async function () {
      const config = () => fetch(`${portalUrl()}/__sandbox/config`).then((r) => r.json());
      expect(await config()).to.include({ drift: false });
      const on = await client().control('config', { drift: true });
      expect(on.status).to.equal(200);
      expect(on.json).to.include({ drift: true, max_sessions: 5 });
      for (const bad of [{ drift: 'yes' }, { drift: 1 }, { drift: null }]) {
        expect((await client().control('config', bad)).status, JSON.stringify(bad)).to.equal(400);
      }
      expect(await config()).to.include({ drift: true });
      await client().reset();
      expect(await config()).to.include({ drift: false });
    });
  });
}

/**
 * SPEC.md "drift": while on, the circuit pages (search results, details, cancel forms and
 * their answers) match none of the selectors SPEC.md fixes for them, the login pages and the
 * data stay; off again, every one of those selectors matches.
 */
export function describeDrift(s: DriftSubject): void {
  describeDriftConfig(s.name, s.client, s.portalUrl);

  describe(`${s.name}: drift on and off`, function () {
    it('while on, the circuit pages match none of their SPEC.md selectors, show the same data, and logins still work; off again, they all match', async function () {
      await s.client().configure({ drift: true });
      const login = await s.client().fresh().get(s.loginPage.path);
      await s.dom().load(login.body);
      for (const selector of s.loginPage.selectors) expect(await s.dom().count(selector), `login page: ${selector}`).to.be.greaterThan(0);
      const c = await s.signedIn();
      for (const page of s.pages) {
        const res = await page.load(c, s.dom(), 0);
        await s.dom().load(res.body);
        for (const selector of page.selectors) expect(await s.dom().count(selector), `${page.what} (drift on): ${selector}`).to.equal(0);
        expect(res.body, `${page.what} (drift on)`).to.contain(page.shows(0));
      }
      await s.client().configure({ drift: false });
      for (const page of s.pages) {
        const res = await page.load(c, s.dom(), 1);
        await s.dom().load(res.body);
        for (const selector of page.selectors) expect(await s.dom().count(selector), `${page.what} (drift off): ${selector}`).to.be.greaterThan(0);
        expect(res.body, `${page.what} (drift off)`).to.contain(page.shows(1));
      }
    });
  });
}

/** Form fields as a drifted page names them (round 0), or as SPEC.md does (round 1). */
export function fieldsFor(round: number, fields: Record<string, string>): Record<string, string> {
  if (round !== 0) return fields;
  return Object.fromEntries(Object.entries(fields).map(([name, value]) => [`${DRIFT_PREFIX}${name}`, value]));
}
