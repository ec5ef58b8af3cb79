import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { portTaken } from '../infra/preflight.js';
import type { Logger } from '../logger.js';
import { healthRoutes, type HealthDeps } from './routes/health-routes.js';

export interface HealthServer {
  url: string;
  close(): Promise<void>;
}

/**
 * `/health/live`, `/health/ready` and `/health` alone, for a process that runs no API (roles
 * worker, batcher, maintenance): Kubernetes probes every orchestrator pod on them. The same
 * routes as the API's, so the same checks (Postgres and Valkey) decide readiness.
 */
export async function startHealthServer(options: { port: number; host: string; health: HealthDeps; logger: Logger }): Promise<HealthServer> {
  const app = express();
  app.disable('x-powered-by');
  app.use(healthRoutes(options.health));
  app.use((_req, res) => {
    res.status(404).json({ error: { code: 'NOT_FOUND', message: 'this process serves /health only (it runs no api role)' } });
  });
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(options.port, options.host, (err?: Error) => (err ? reject(err) : resolve(s)));
    s.once('error', (error: NodeJS.ErrnoException) => reject(error.code === 'EADDRINUSE' ? portTaken(options.port, options.host, 'PORT', error) : error));
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host}:${port}`;
  options.logger.info({ url }, 'health endpoints listening');
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
