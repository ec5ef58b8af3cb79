import { Router, type Response } from 'express';
import type { Db } from '../../db/database.js';
import type { Logger } from '../../logger.js';
import type { StatusEventFeed } from '../status-event-feed.js';
import { identifyByHash, requirePermission } from '../auth/authenticate.js';
import { can, ownerScope } from '../auth/roles.js';
import { noQuery } from '../request-params.js';

export interface EventsRoutesOptions {
  db: Db;
  bootstrapKey?: string;
  logger: Logger;
  heartbeatMs?: number;
  /** How often an open stream checks that its key still holds (a revoked key's stream ends then). */
  keyCheckMs?: number;
}

/**
 * `GET /events`: a Server-Sent Events stream of job and batch status changes, each a
 * `{type, ts, data}` JSON envelope (event name = type), for dashboards. Keys that read jobs; a
 * submitter's stream carries only its own jobs' changes (and no batch changes: batches hold
 * every key's jobs). A stream ends within `keyCheckMs` of its key's revocation.
 * `streams.closeAll()` ends every open stream (shutdown).
 */
export function eventsRoutes(feed: StatusEventFeed, options: EventsRoutesOptions): { router: Router; closeAll(): void } {
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const keyCheckMs = options.keyCheckMs ?? 2_000;
  const open = new Set<Response>();
  const router = Router();
  router.get('/events', requirePermission('jobs:read'), noQuery, async (req, res) => {
    const identity = req.identity!;
    const keyHash = req.keyHash!;
    const owner = ownerScope(identity);
    const batches = can(identity.role, 'batches:read');
    // Subscribed before the headers go out: a client that saw 200 misses no later change.
    const unsubscribe = await feed.subscribe((event) => {
      if (event.type === 'batch.status' && !batches) return;
      if (owner !== undefined && event.owner !== owner) return;
      const { id, owner: _owner, ...envelope } = event;
      res.write(`${id ? `id: ${id}\n` : ''}event: ${event.type}\ndata: ${JSON.stringify(envelope)}\n\n`);
    });
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(': rpa status events\n\n');
    open.add(res);
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), heartbeatMs).unref();
    let checking = false;
    const keyCheck = setInterval(() => {
      if (checking) return;
      checking = true;
      identifyByHash(options.db, options.bootstrapKey, keyHash)
        .then((still) => {
          if (still) return;
          options.logger.info({ key: identity.name }, '/events stream ended: its API key was revoked');
          res.end();
          end();
        })
        // Postgres out for a moment: the stream stays; the next check decides.
        .catch(() => undefined)
        .finally(() => {
          checking = false;
        });
    }, keyCheckMs).unref();
    function end() {
      clearInterval(heartbeat);
      clearInterval(keyCheck);
      unsubscribe();
      open.delete(res);
    }
    req.on('close', end);
    res.on('close', end);
  });
  return {
    router,
    closeAll: () => {
      for (const res of open) res.end();
      open.clear();
    },
  };
}
