/** A map path with `{circuit}` filled in, URL-encoded. */
export function pathFor(template: string, circuit: string): string {
  return template.replaceAll('{circuit}', encodeURIComponent(circuit));
}

/** A map selector with `{circuit}` filled in as a quoted CSS string. */
export function selectorFor(template: string, circuit: string): string {
  return template.replaceAll('{circuit}', JSON.stringify(circuit));
}

/** Whether a URL is the map's page `path` or `path?key=value…` (those parameters matching, others free). */
export function isPage(url: URL, page: string): boolean {
  const expected = new URL(page, url.origin);
  if (url.pathname !== expected.pathname) return false;
  for (const [key, value] of expected.searchParams) if (url.searchParams.get(key) !== value) return false;
  return true;
}

/** Whether a load ended on the signal's page (and was not an error answer). */
export function reachedPage(load: { status: number; url: URL }, signal: { path?: string }): boolean {
  return signal.path !== undefined && load.status < 400 && isPage(load.url, signal.path);
}

/** A CSS selector list matching any of the given selectors (for error details). */
export function anyOf(...selectors: Array<string | undefined>): string {
  return selectors.filter((s): s is string => s !== undefined).join(', ');
}
