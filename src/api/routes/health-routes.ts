import { Router } from 'express';
import type { Redis } from 'iovalkey';
import { pingDatabase, type Db } from '../../db/database.js';
import { providerNames } from '../../providers/descriptors.js';
import { withTimeout } from '../../queues/job-enqueuer.js';
import type { QueueRegistry } from '../../queues/queue-registry.js';

export interface HealthDeps {
  db: Db;
  valkey: Redis;
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

/** `/health*` need no API key: orchestrators (Kubernetes) call them. */
export function healthRoutes(deps: HealthDeps): Router {
  const router = Router();
  const dependencies = async () => {
    const [postgres, valkey] = await Promise.all([probe(() => pingDatabase(deps.db)), probe(() => deps.valkey.ping())]);
    return { postgres, valkey };
  };

  router.get('/health/live', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/health/ready', async (_req, res) => {
    const checks = await dependencies();
    const more = deps.readiness ? await deps.readiness().catch((error: Error) => ({ readiness: { ok: false, error: error.message } })) : {};
    const ready = (deps.readyNeeds ?? ['postgres', 'valkey']).every((need) => checks[need].ok) && Object.values(more).every((c) => c.ok);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', ...checks, ...more });
  });

  router.get('/health', async (_req, res) => {
    const checks = await dependencies();
    let queues: Record<string, unknown> = {};
    if (checks.valkey.ok) {
      const counts = await Promise.allSettled(
        providerNames().map(async (p) => [p, await withTimeout(deps.queues.providerJobs(p).getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'failed'), 2_000, 'queue counts')] as const),
      );
      queues = Object.fromEntries(counts.flatMap((c) => (c.status === 'fulfilled' ? [c.value] : [])));
    }
    const extra = deps.details ? await deps.details().catch((error: Error) => ({ details_error: error.message })) : {};
    const healthy = checks.postgres.ok && checks.valkey.ok;
    res.status(healthy ? 200 : 503).json({ status: healthy ? 'ok' : 'degraded', ...checks, queues, ...extra });
  });
  return router;
}
