import { Router, type Request } from 'express';
import { windowsFromJson, windowsToJson } from '../../calendar/provider-windows.js';
import type { ProviderConfig } from '../../config/config.js';
import type { Db } from '../../db/database.js';
import { providerEvents, storeWindows } from '../../db/provider-store.js';
import { RpaError } from '../../errors/failures.js';
import type { CanaryVerdict } from '../../processors/contract-canary.js';
import type { ProviderCalendar } from '../../processors/provider-calendar.js';
import type { ProviderHealth } from '../../processors/provider-health.js';
import { resumeChecked } from '../../processors/provider-resume.js';
import { requirePermission } from '../auth/authenticate.js';

export interface ProvidersRoutesDeps {
  db: Db;
  providers: Readonly<Record<string, ProviderConfig>>;
  calendar: ProviderCalendar;
  /** Every provider's state (as /health shows it). */
  health: () => Promise<Record<string, ProviderHealth>>;
  /** Runs the contract canary on a worker and returns its verdict. */
  canary: (provider: string) => Promise<CanaryVerdict>;
}

/**
 * Provider operations: their state (GET /providers), resuming a paused one (the canary first
 * when it was paused for contract drift), and their maintenance windows and business hours.
 */
export function providersRoutes(deps: ProvidersRoutesDeps): Router {
  const router = Router();
  const named = (req: Request): string => {
    const name = req.params.name;
    if (typeof name !== 'string' || !Object.hasOwn(deps.providers, name)) {
      throw new RpaError('NOT_FOUND', `no provider named "${String(name)}" (known: ${Object.keys(deps.providers).join(', ')})`, { field: 'name' });
    }
    return name;
  };
  const windowsView = async (provider: string) => {
    const { windows, source } = await deps.calendar.windows(provider);
    const state = await deps.calendar.state(provider);
    return {
      provider,
      source,
      ...windowsToJson(windows),
      now: state.open
        ? { open: true, closes_at: state.closesAt?.toISOString() ?? null, closes_for: state.closesFor ?? null, label: state.label ?? null }
        : { open: false, reason: state.reason, until: state.until.toISOString(), label: state.label ?? null },
    };
  };

  router.get('/providers', requirePermission('system:read'), async (_req, res) => {
    res.json({ providers: await deps.health() });
  });

  router.get('/providers/:name', requirePermission('system:read'), async (req, res) => {
    const provider = named(req);
    const health = (await deps.health())[provider];
    const events = await providerEvents(deps.db, provider, 20);
    res.json({ provider, ...health, events: events.map((e) => ({ at: e.at, kind: e.kind, actor: e.actor, details: e.details })) });
  });

  router.post('/providers/:name/resume', requirePermission('providers:operate'), async (req, res) => {
    const provider = named(req);
    const body: unknown = req.body ?? {};
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new RpaError('VALIDATION_FAILED', 'body: must be a JSON object (or empty)', { field: 'body' });
    const { force, ...rest } = body as Record<string, unknown>;
    const unknown = Object.keys(rest);
    if (unknown.length > 0) throw new RpaError('VALIDATION_FAILED', `${unknown[0]}: is not a field of a resume (only force)`, { field: unknown[0] });
    if (force !== undefined && typeof force !== 'boolean') throw new RpaError('VALIDATION_FAILED', 'force: must be true or false', { field: 'force' });
    const outcome = await resumeChecked(deps.db, { provider, actor: req.identity!.name, via: 'the API', force: force === true, canary: deps.canary });
    res.json(outcome);
  });

  router.get('/providers/:name/windows', requirePermission('system:read'), async (req, res) => {
    res.json(await windowsView(named(req)));
  });

  router.put('/providers/:name/windows', requirePermission('providers:operate'), async (req, res) => {
    const provider = named(req);
    const windows = windowsFromJson(req.body, deps.providers[provider]!.windows.timeZone);
    await storeWindows(deps.db, provider, { ...windowsToJson(windows) }, req.identity!.name);
    deps.calendar.invalidate();
    res.json(await windowsView(provider));
  });

  router.delete('/providers/:name/windows', requirePermission('providers:operate'), async (req, res) => {
    const provider = named(req);
    await storeWindows(deps.db, provider, null, req.identity!.name);
    deps.calendar.invalidate();
    res.json(await windowsView(provider));
  });

  return router;
}
