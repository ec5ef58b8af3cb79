import { errors, type Locator, type Page, type Request, type Response } from 'playwright-core';
import { RpaError } from '../errors/failures.js';
import { domSnippet } from './dom-snippet.js';
import { portalHiccup } from './portal-retry.js';
import type { ProviderSessionContext } from './provider.js';
import { resolveTimeouts } from './provider-timeouts.js';

/** The document a navigation ended on. */
export interface PageLoad {
  status: number;
  url: URL;
}

function isRedirect(status: number): boolean {
  return status >= 300 && status < 400;
}

/** Resolves a portal path against the context's base URL. */
export function portalUrl(ctx: Pick<ProviderSessionContext, 'baseUrl'>, path: string): string {
  return new URL(path, ctx.baseUrl.replace(/\/+$/, '') + '/').toString();
}

/**
 * Loads a portal page (following redirects) and returns where it ended. A 503 throws a
 * `portalHiccup`, so the caller's `withPortalRetry` loads it again.
 */
export async function openUrl(ctx: ProviderSessionContext, path: string, what = path): Promise<PageLoad> {
  const { navigationMs } = resolveTimeouts(ctx);
  const page = ctx.page;
  // error_rate also hits a page's scripts; a client-rendered page without its script never renders.
  let scriptFailed = false;
  const onResponse = (r: Response) => {
    if (r.status() === 503 && r.request().resourceType() === 'script') scriptFailed = true;
  };
  page.on('response', onResponse);
  let response: Response | null;
  try {
    response = await page.goto(portalUrl(ctx, path), { waitUntil: 'domcontentloaded', timeout: navigationMs });
  } catch (thrown) {
    throw navigationFailure(thrown, `loading ${what}`);
  } finally {
    page.off('response', onResponse);
  }
  const load = { status: response?.status() ?? 200, url: new URL(page.url()) };
  if (load.status === 503) throw portalHiccup(`loading ${what}`);
  if (scriptFailed) throw portalHiccup(`loading a script of ${what}`);
  return load;
}

/**
 * The answer to the first request matching `matches` from now on: resolves with its response,
 * throws a `portalHiccup` when the request failed (connection reset or refused: the answer is
 * lost) and PORTAL_UNAVAILABLE when nothing came within `timeoutMs`. Start it before the
 * click that sends the request.
 */
export function answerTo(page: Page, matches: (request: Request) => boolean, what: string, timeoutMs: number): Promise<Response> {
  return new Promise<Response>((resolveAnswer, reject) => {
    const done = () => {
      clearTimeout(timer);
      page.off('response', onResponse);
      page.off('requestfailed', onFailed);
    };
    const onResponse = (response: Response) => {
      if (!matches(response.request()) || isRedirect(response.status())) return;
      done();
      resolveAnswer(response);
    };
    const onFailed = (request: Request) => {
      if (!matches(request)) return;
      done();
      reject(portalHiccup(`${what} (${request.failure()?.errorText ?? 'request failed'})`, 0));
    };
    const timer = setTimeout(() => {
      done();
      reject(new RpaError('PORTAL_UNAVAILABLE', `portal did not answer in time while ${what}`));
    }, timeoutMs);
    timer.unref();
    page.on('response', onResponse);
    page.on('requestfailed', onFailed);
  });
}

/**
 * Clicks a control that submits a server-rendered form and waits until the browser shows the
 * document the submission ended on (after redirects). Waiting for the main frame to commit a
 * new document keeps later locators from matching the page the form was on. A 503 or a cut
 * connection throws a `portalHiccup`, no answer in time PORTAL_UNAVAILABLE.
 */
export async function submitForm(ctx: ProviderSessionContext, submit: Locator, what: string, timeoutMs?: number): Promise<PageLoad> {
  const timeouts = resolveTimeouts(ctx);
  const timeout = timeoutMs ?? timeouts.navigationMs;
  const page = ctx.page;
  const mainFrame = page.mainFrame();
  try {
    const [, response] = await Promise.all([
      page.waitForEvent('framenavigated', { predicate: (frame) => frame === mainFrame, timeout }),
      answerTo(page, (r) => r.frame() === mainFrame && r.isNavigationRequest(), what, timeout),
      submit.click({ timeout: timeouts.actionMs }),
    ]);
    await page.waitForLoadState('domcontentloaded', { timeout });
    const load = { status: response.status(), url: new URL(page.url()) };
    if (load.status === 503) throw portalHiccup(what);
    return load;
  } catch (thrown) {
    if (thrown instanceof RpaError && thrown.details?.status === 0) {
      // The submission's connection was cut: let the browser's error page commit before the
      // caller loads anything, or that load would be interrupted by it.
      await page.waitForURL(/^chrome-error:/, { waitUntil: 'commit', timeout: 2_000 }).catch(() => undefined);
    }
    if (thrown instanceof RpaError) throw thrown;
    throw navigationFailure(thrown, what);
  }
}

function navigationFailure(thrown: unknown, what: string): RpaError {
  const message = thrown instanceof Error ? thrown.message.split('\n')[0] : String(thrown);
  if (thrown instanceof errors.TimeoutError) {
    return new RpaError('PORTAL_UNAVAILABLE', `portal did not answer in time while ${what}`, { cause: thrown });
  }
  // Connection refused/reset: the portal is down; transient from the robot's point of view.
  if (/net::ERR_/.test(message)) return portalHiccup(what, 0);
  // Another navigation took over the frame (the error page of a request that just failed).
  if (/is interrupted by another navigation/.test(message)) return portalHiccup(what, 0);
  return new RpaError('PAGE_CONTRACT_MISMATCH', `browser failed while ${what}: ${message}`, { cause: thrown });
}

/**
 * Waits until one of the named locators is visible and returns its name, or undefined when
 * none appeared in time. Keys are checked in order, so list the most specific first; an
 * undefined locator (an outcome the portal does not have) is left out.
 */
export async function firstVisible<K extends string>(outcomes: Record<K, Locator | undefined>, timeoutMs: number): Promise<K | undefined> {
  const keys = (Object.keys(outcomes) as K[]).filter((key) => outcomes[key] !== undefined);
  const locators = keys.map((key) => outcomes[key]!);
  const any = locators.slice(1).reduce((all, next) => all.or(next), locators[0]!);
  try {
    await any.first().waitFor({ state: 'visible', timeout: timeoutMs });
  } catch (thrown) {
    if (thrown instanceof errors.TimeoutError) return undefined;
    throw thrown;
  }
  for (const [i, key] of keys.entries()) {
    if (await locators[i]!.first().isVisible()) return key;
  }
  return undefined;
}

/** A locator for an optional selector (undefined stays undefined, for `firstVisible`). */
export function locatorOf(page: Page, selector: string | undefined): Locator | undefined {
  return selector === undefined ? undefined : page.locator(selector);
}

/** Trimmed, whitespace-collapsed text of the first match, waiting for it to be attached. */
export async function textOf(locator: Locator, timeoutMs: number): Promise<string> {
  const text = await locator.first().textContent({ timeout: timeoutMs });
  return (text ?? '').replace(/\s+/g, ' ').trim();
}

/**
 * The error for a page that does not look like SPEC.md says it should: which `selector` did
 * not match, and a short, secret-free excerpt of the page it was looked for in.
 */
export async function contractMismatch(ctx: ProviderSessionContext, label: string, what: string, selector: string): Promise<RpaError> {
  const page = ctx.page;
  let path = '';
  try {
    const url = new URL(page.url());
    path = url.pathname + url.search;
  } catch {
    path = page.url();
  }
  const dom_snippet = await domSnippet(page, [ctx.credentials.password]);
  return new RpaError('PAGE_CONTRACT_MISMATCH', `${label}: ${what} (page ${path})`, { details: { selector, dom_snippet } });
}
