import type { BrowserContext, Page } from 'playwright-core';

/**
 * The pages of one provider session, one per lane (a lane runs one job at a time). They are
 * pages of the same browser context, so they share its cookies: one login serves them all.
 * A lane's page is opened on first use and opened again if it was closed.
 */
export class SessionPages {
  private readonly pages = new Map<number, Promise<Page>>();

  constructor(
    private readonly context: BrowserContext,
    private readonly setUp: (page: Page) => void,
  ) {}

  /** The page of `lane`, opened if it has none (or it was closed). */
  async page(lane: number): Promise<Page> {
    const existing = this.pages.get(lane);
    if (existing) {
      const page = await existing.catch(() => undefined);
      if (page && !page.isClosed()) return page;
    }
    const opening = this.context.newPage().then((page) => {
      this.setUp(page);
      return page;
    });
    this.pages.set(lane, opening);
    // A failed open is not kept: the next call tries again.
    opening.catch(() => this.pages.get(lane) === opening && this.pages.delete(lane));
    return opening;
  }

  /** An open page, preferring lane 0: where a logout runs. Undefined when none is open. */
  async anyOpen(): Promise<Page | undefined> {
    for (const lane of [...this.pages.keys()].sort((a, b) => a - b)) {
      const page = await this.pages.get(lane)!.catch(() => undefined);
      if (page && !page.isClosed()) return page;
    }
    return undefined;
  }

  /** Closes every page. The context stays its owner's. */
  async closeAll(): Promise<void> {
    const opening = [...this.pages.values()];
    this.pages.clear();
    await Promise.allSettled(opening.map(async (p) => (await p).close()));
  }
}
