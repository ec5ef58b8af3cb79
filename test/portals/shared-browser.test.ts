import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { providerDescriptors } from '../../src/providers/descriptors.js';
import { startPracticePortals, type PracticePortals } from '../../src/portals/practice-portals.js';
import { launchChromium } from './support/html-inspector.js';
import { awayFromStepBoundary, codeAt } from './support/totp-codes.js';

const accounts = Object.fromEntries(providerDescriptors().map((d) => [d.name, d.practiceAccount]));

/** Signs in through each portal's own pages, as a robot would, in one browser context. */
const signIn: Record<string, (page: Page, url: string) => Promise<void>> = {
  async octotel(page, url) {
    const a = accounts.octotel!;
    await page.goto(`${url}/login`);
    await page.locator('input#username').fill(a.login);
    await page.locator('input#password').fill(a.password);
    await page.locator('button#login-btn').click();
    await page.locator('input#otp').fill(codeAt(a.totpSecret!));
    await page.locator('button#verify-btn').click();
    await page.waitForURL(`${url}/dashboard`);
  },
  async openserve(page, url) {
    const a = accounts.openserve!;
    await page.goto(`${url}/signin`);
    await page.locator('input[name=email]').fill(a.login);
    await page.locator('input[name=password]').fill(a.password);
    await page.locator('button[type=submit]').click();
    await page.waitForURL(`${url}/app`);
  },
  async metrofiber(page, url) {
    const a = accounts.metrofiber!;
    await page.goto(`${url}/index.php?page=login`);
    await page.locator('input[name=email]').fill(a.login);
    await page.locator('input[name=password]').fill(a.password);
    await page.locator('input[type=submit][value=Login]').click();
    await page.waitForURL(`${url}/index.php?page=notice`);
    await page.locator('button#acknowledge').click();
    await page.waitForURL(`${url}/index.php?page=home`);
  },
  async evotel(page, url) {
    const a = accounts.evotel!;
    await page.goto(`${url}/account/login`);
    await page.locator('input[name=username]').fill(a.login);
    await page.locator('button#next').click();
    await page.waitForURL(`${url}/account/password`);
    await page.locator('input[name=password]').fill(a.password);
    await page.locator('button#signin').click();
    await page.waitForURL(`${url}/services`);
  },
};

const home: Record<string, string> = { octotel: '/dashboard', openserve: '/app', metrofiber: '/index.php?page=home', evotel: '/services' };

describe('practice portals in one browser (cookies are shared between ports)', function () {
  let portals: PracticePortals;
  let browser: Browser;
  let context: BrowserContext;

  before(async function () {
    portals = await startPracticePortals({ portals: Object.fromEntries(providerDescriptors().map((d) => [d.name, { account: d.practiceAccount }])) });
    browser = await launchChromium();
  });
  after(async function () {
    await context?.close();
    await browser?.close();
    await portals?.close();
  });

  it('stays signed in to all four at once, and signing out of one leaves the others', async function () {
    await awayFromStepBoundary();
    context = await browser.newContext();
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    for (const name of Object.keys(signIn)) await signIn[name]!(page, portals.urls[name]!);
    const cookieNames = (await context.cookies()).map((c) => c.name).sort();
    expect(cookieNames).to.include.members(['evotel_auth', 'metrofiber_PHPSESSID', 'octotel_session', 'openserve_session']);
    for (const name of Object.keys(home)) {
      await page.goto(portals.urls[name]! + home[name]!);
      expect(page.url(), name).to.equal(portals.urls[name]! + home[name]!);
    }
    // Evotel's sign-out link; the other three keep their sessions.
    await page.goto(`${portals.urls.evotel}/services`);
    await page.locator('a[href="/account/logout"]').click();
    await page.waitForURL(`${portals.urls.evotel}/account/login`);
    for (const name of ['octotel', 'openserve', 'metrofiber']) {
      await page.goto(portals.urls[name]! + home[name]!);
      expect(page.url(), name).to.equal(portals.urls[name]! + home[name]!);
    }
  });
});
