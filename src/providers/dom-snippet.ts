import type { Page } from 'playwright-core';

/** The most a snippet may weigh, in UTF-8 bytes. */
export const DOM_SNIPPET_MAX_BYTES = 2048;

/**
 * A short excerpt of the page for a PAGE_CONTRACT_MISMATCH: the outer HTML of its `main`
 * element (else the body) with scripts, styles and every form value removed (typed passwords,
 * codes and tokens live there), the given secrets blanked out besides, whitespace collapsed,
 * cut to 2 KB. Empty when the page cannot be read.
 */
export async function domSnippet(page: Page, secrets: readonly string[] = []): Promise<string> {
  let markup: string;
  try {
    markup = await page.evaluate(() => {
      const root = (document.querySelector('main') ?? document.body)?.cloneNode(true) as Element | undefined;
      if (!root) return '';
      root.querySelectorAll('script, style, svg, template').forEach((el) => el.remove());
      root.querySelectorAll('input, select, option, textarea').forEach((el) => {
        el.removeAttribute('value');
        if (el.tagName === 'TEXTAREA') el.textContent = '';
      });
      return root.outerHTML;
    });
  } catch {
    return '';
  }
  let text = markup.replace(/\s+/g, ' ').trim();
  for (const secret of secrets) if (secret) text = text.split(secret).join('[redacted]');
  return cutToBytes(text, DOM_SNIPPET_MAX_BYTES);
}

function cutToBytes(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const ellipsis = '…';
  let cut = text.slice(0, maxBytes);
  while (Buffer.byteLength(cut) + Buffer.byteLength(ellipsis) > maxBytes) cut = cut.slice(0, -1);
  return cut + ellipsis;
}
