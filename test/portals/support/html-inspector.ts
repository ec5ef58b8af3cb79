import { chromium, type Browser, type Page } from 'playwright-core';
import { defaultChromiumPath } from '../../../src/config/settings.js';
import { CHROMIUM_FLAGS } from '../../../src/browser/pool/chromium-flags.js';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: defaultChromiumPath() ?? '/usr/bin/chromium', args: [...CHROMIUM_FLAGS] });
}

/**
 * Checks CSS selectors against served HTML with real Chromium's parser (scripts off), so the
 * contract's selectors are tested the way the robots will match them.
 */
export class HtmlInspector {
  private constructor(
    private readonly browser: Browser,
    private readonly page: Page,
  ) {}

  static async start(): Promise<HtmlInspector> {
    const browser = await launchChromium();
    const context = await browser.newContext({ javaScriptEnabled: false });
    return new HtmlInspector(browser, await context.newPage());
  }

  /** Loads a document; later queries run against it. */
  async load(html: string): Promise<this> {
    await this.page.setContent(html, { waitUntil: 'domcontentloaded' });
    return this;
  }

  count(selector: string): Promise<number> {
    return this.page.locator(selector).count();
  }

  /** Trimmed text of the only element matching the selector (fails on zero or several). */
  async text(selector: string): Promise<string> {
    return ((await this.page.locator(selector).textContent({ timeout: 1000 })) ?? '').trim();
  }

  async texts(selector: string): Promise<string[]> {
    return (await this.page.locator(selector).allTextContents()).map((t) => t.trim());
  }

  attr(selector: string, name: string): Promise<string | null> {
    return this.page.locator(selector).getAttribute(name, { timeout: 1000 });
  }

  /** Value of a form control as the browser sees it (selected option for a select). */
  value(selector: string): Promise<string> {
    return this.page.locator(selector).inputValue({ timeout: 1000 });
  }

  /** The `value` attributes of every element matching the selector (e.g. a select's options). */
  optionValues(selector: string): Promise<string[]> {
    return this.page.locator(selector).evaluateAll((els) => els.map((e) => e.getAttribute('value') ?? ''));
  }

  async close(): Promise<void> {
    await this.browser.close();
  }
}
