import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { SafeHtml } from './html.js';
import type { PortalState } from './portal-state.js';

/** What a drifted page puts in front of every id, class, field name and test hook. */
export const DRIFT_PREFIX = 'rd-';

/** Attributes SPEC.md's selectors lean on. Values are escaped HTML, so they hold no `"`. */
const RENAMED = /(?<=\s)(id|class|for|name|data-testid|data-field|data-name)="([^"]*)"/g;

function renamed(value: string): string {
  return value
    .split(/\s+/)
    .filter(Boolean)
    .map((token) => DRIFT_PREFIX + token)
    .join(' ');
}

/**
 * A circuit page's fragment as a redesigned portal serves it while `drift` is on: every id,
 * class, label target, field name and test hook renamed, so none of SPEC.md's selectors for
 * it match, while texts, data, links and form actions stay as they are. Off, the fragment is
 * unchanged. Field names come back on the way in through `undriftedFields`.
 */
export function driftable(state: PortalState, fragment: SafeHtml): SafeHtml {
  if (!state.config.drift) return fragment;
  return new SafeHtml(fragment.value.replace(RENAMED, (_match, attribute: string, value: string) => `${attribute}="${renamed(value)}"`));
}

/**
 * While `drift` is on, a form posted from a drifted page names its fields `rd-<name>`: this
 * reads them under their contract names, so the rules (and the data) stay the same.
 */
export function undriftedFields(state: PortalState): RequestHandler {
  return (req: Request, _res: Response, next: NextFunction) => {
    const body: unknown = req.body;
    if (state.config.drift && typeof body === 'object' && body !== null && !Array.isArray(body)) {
      const fields = body as Record<string, unknown>;
      for (const key of Object.keys(fields)) {
        if (key.startsWith(DRIFT_PREFIX)) fields[key.slice(DRIFT_PREFIX.length)] ??= fields[key];
      }
    }
    next();
  };
}
