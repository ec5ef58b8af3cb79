#!/usr/bin/env node
// The container image's HEALTHCHECK (Kubernetes uses its own probes on the same routes):
// GET /health/live on the port of the role this container runs. Plain Node, no dependencies.
const roles = (process.env.RPA_ROLES ?? '').split(',').map((r) => r.trim()).filter(Boolean);
const ports = [];
if (roles.includes('browser')) ports.push(process.env.BROWSER_POOL_PORT ?? '8630');
if (roles.length === 0 || roles.some((r) => r !== 'browser')) ports.push(process.env.PORT ?? '8620');
const checks = ports.map((port) =>
  fetch(`http://127.0.0.1:${port}/health/live`, { signal: AbortSignal.timeout(4000) }).then((r) => r.ok, () => false),
);
Promise.all(checks).then((ok) => process.exit(ok.every(Boolean) ? 0 : 1));
