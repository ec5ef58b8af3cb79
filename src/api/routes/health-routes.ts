import { Router, type Request, type Response } from 'express';
import type { ValkeyClient } from '../../queues/valkey.js';
import { pingDatabase, type Db } from '../../db/database.js';
import { providerNames } from '../../providers/descriptors.js';
import { withTimeout } from '../../infra/with-timeout.js';
import type { QueueRegistry } from '../../queues/queue-registry.js';
import type { Logger } from '../../logger.js';
import { isRpaError } from '../../errors/failures.js';

export interface HealthDeps {
  db: Db;
  valkey: ValkeyClient;
  queues: QueueRegistry;
  /** More sections for GET /health (circuit breakers, browser pool …). */
  details?: () => Promise<Record<string, unknown>>;
  /**
   * What readiness needs (default both). The API needs Postgres only: a job accepted while
   * Valkey is down is in Postgres, and the sweeper queues it later.
   */
  readyNeeds?: ReadonlyArray<'postgres' | 'valkey'>;
  /** More checks /health/ready depends on (a worker: can it get browsers?), by name. */
  readiness?: () => Promise<Record<string, { ok: boolean; error?: string }>>;
  /**
   * Whether this request to `/health` may see the details (healthDetailsAccess: a key with
   * system:read). Without it, `/health` answers `{status}` alone.
   */
  detailsAccess?: (req: Request, res: Response) => Promise<boolean>;
  /** Where the error texts the probes keep to themselves are logged. */
  logger?: Logger;
}

async function probe(check: () => Promise<unknown>): Promise<{ ok: boolean; latency_ms: number; error?: string }> {
  const started = Date.now();
  try {
    await withTimeout(check(), 2_000, 'health check');
    return { ok: true, latency_ms: Date.now() - started };
  } catch (error) {
    return { ok: false, latency_ms: Date.now() - started, error: (error as Error).message };
  }
}

/** A check as the open probes show it: whether it passed and how long it took, never why it failed. */
function bare(check: { ok: boolean; latency_ms?: number; error?: string }): { ok: boolean; latency_ms?: number } {
  return check.latency_ms === undefined ? { ok: check.ok } : { ok: check.ok, latency_ms: check.latency_ms };
}

/**
 * `/health*` need no API key: orchestrators (Kubernetes) call them. `/health/live` and
 * `/health/ready` say ok or not per dependency, never an error text (a connection error names
 * internal addresses; the log has it). `/health` without a key of role viewer or above is
 * `{status}` alone; with one it adds queue depths, breakers and the errors.
 */
export function healthRoutes(deps: HealthDeps): Router {
  const router = Router();
  const dependencies = async () => {
    const [postgres, valkey] = await Promise.all([probe(() => pingDatabase(deps.db)), probe(() => deps.valkey.ping())]);
    return { postgres, valkey };
  };
  const logFailures = (checks: Record<string, { ok: boolean; error?: string }>) => {
    const failed = Object.fromEntries(Object.entries(checks).filter(([, c]) => !c.ok).map(([name, c]) => [name, c.error ?? 'failed']));
    if (Object.keys(failed).length > 0) deps.logger?.warn({ failed }, 'health check failed');
  };

  router.get('/health/live', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/health/ready', async (_req, res) => {
    const checks = await dependencies();
    const more: Record<string, { ok: boolean; error?: string }> = deps.readiness ? await deps.readiness().catch((error: Error) => ({ readiness: { ok: false, error: error.message } })) : {};
    const ready = (deps.readyNeeds ?? ['postgres', 'valkey']).every((need) => checks[need].ok) && Object.values(more).every((c) => c.ok);
    logFailures({ ...checks, ...more });
    const shown = Object.fromEntries(Object.entries({ ...checks, ...more }).map(([name, c]) => [name, bare(c)]));
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', ...shown });
  });

  router.get('/health', async (req, res) => {
    const checks = await dependencies();
    const healthy = checks.postgres.ok && checks.valkey.ok;
    const status = healthy ? 'ok' : 'degraded';
    res.setHeader('Cache-Control', 'no-store');
    // A key that cannot be checked (Postgres down) sees what no key sees; too many wrong keys is a 429.
    const details = await (deps.detailsAccess?.(req, res) ?? Promise.resolve(false)).catch((error: unknown) => {
      if (isRpaError(error, 'RATE_LIMITED')) throw error;
      return false;
    });
    if (!details) {
      logFailures(checks);
      res.status(healthy ? 200 : 503).json({ status });
      return;
    }
    let queues: Record<string, unknown> = {};
    if (checks.valkey.ok) {
      const counts = await Promise.allSettled(
        providerNames().map(async (p) => [p, await withTimeout(deps.queues.providerJobs(p).getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'failed'), 2_000, 'queue counts')] as const),
      );
      queues = Object.fromEntries(counts.flatMap((c) => (c.status === 'fulfilled' ? [c.value] : [])));
    }
    const extra = deps.details ? await deps.details().catch((error: Error) => ({ details_error: error.message })) : {};
    res.status(healthy ? 200 : 503).json({ status, ...checks, queues, ...extra });
  });
  return router;
}
