import express, { type Express, type Request, type Response } from 'express';
import { createControlRouter } from './control-router.js';
import { undriftedFields } from './drift.js';
import { faultsMiddleware } from './faults.js';
import { documentPage, html } from './html.js';
import type { PortalState } from './portal-state.js';

/** The text every injected 503 carries (SPEC.md "Faults"). */
export const UNAVAILABLE_TEXT = 'Service temporarily unavailable';

/** The injected-fault page every portal serves as HTML. */
export function unavailableHtml(_req: Request, res: Response): void {
  res.type('html').send(documentPage(UNAVAILABLE_TEXT, html`<h1>${UNAVAILABLE_TEXT}</h1><p>Please try again later.</p>`));
}

/**
 * An Express app with what every portal shares: the control API, faults, form and JSON
 * bodies (field names of drifted forms read back as the contract names them). The portal
 * adds its routes with `routes`; unknown paths answer 404 and a thrown error 500, both as
 * HTML (as JSON under `jsonPrefix`).
 */
export function createPortalApp(
  state: PortalState,
  routes: (app: Express) => void,
  options: { unavailable?: (req: Request, res: Response) => void; jsonPrefix?: string } = {},
): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use('/__sandbox', createControlRouter(state));
  app.use(faultsMiddleware(state, options.unavailable ?? unavailableHtml));
  app.use(express.urlencoded({ extended: false, limit: '100kb' }));
  app.use(express.json({ limit: '100kb' }));
  app.use(undriftedFields(state));
  app.use((_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });
  routes(app);
  app.use((_req: Request, res: Response) => {
    res.status(404).type('html').send(documentPage('Not found', html`<h1>Not found</h1>`));
  });
  app.use((error: unknown, req: Request, res: Response, _next: express.NextFunction) => {
    const status = (error as { status?: number }).status;
    const code = status && status >= 400 && status < 500 ? status : 500;
    if (options.jsonPrefix && req.path.startsWith(options.jsonPrefix)) {
      res.status(code).json(code === 500 ? { error: 'internal', message: 'Internal error' } : { error: 'bad_request', message: 'The request could not be read' });
      return;
    }
    res.status(code).type('html').send(documentPage('Error', html`<h1>${code === 500 ? 'Internal error' : 'Bad request'}</h1>`));
  });
  return app;
}
