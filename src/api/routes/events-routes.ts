import { Router, type Response } from 'express';
import type { StatusEventFeed } from '../status-event-feed.js';
import { requirePermission } from '../auth/authenticate.js';

/**
 * `GET /events`: a Server-Sent Events stream of job and batch status changes, each a
 * `{type, ts, data}` JSON envelope (event name = type), for dashboards. Operator and admin keys.
 * `streams.closeAll()` ends every open stream (shutdown).
 */
export function eventsRoutes(feed: StatusEventFeed, heartbeatMs = 15_000): { router: Router; closeAll(): void } {
  const open = new Set<Response>();
  const router = Router();
  router.get('/events', requirePermission('jobs:operate'), async (req, res) => {
    // Subscribed before the headers go out: a client that saw 200 misses no later change.
    const unsubscribe = await feed.subscribe((event) => {
      const { id, ...envelope } = event;
      res.write(`${id ? `id: ${id}\n` : ''}event: ${event.type}\ndata: ${JSON.stringify(envelope)}\n\n`);
    });
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(': rpa status events\n\n');
    open.add(res);
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), heartbeatMs).unref();
    const end = () => {
      clearInterval(heartbeat);
      unsubscribe();
      open.delete(res);
    };
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
