/**
 * Lease-to-ready benchmark: how long from "I need a browser" to a page that is usable, for
 *
 *   cold launch           chromium.launch() per lease, new context, page
 *   warm pool, connect    pool lease + a new ws connection + new context, page (keepConnectionMs 0)
 *   warm pool, cached     pool lease + new context on a cached connection, page (the client default)
 *   warm pool, step by step   the "connect" path with raw HTTP + Playwright calls, each phase timed
 *
 * "Ready" = page.goto() of a tiny local page has loaded and its <h1> is attached. Scenarios run
 * interleaved (one cycle of each per round) so load from other processes hits all alike; two
 * warm-up rounds are not counted. Run: npx tsc -p tsconfig.json && node dist/bench/browser-lease.js [--cycles 30] [--json]
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { chromium, type Page } from 'playwright-core';
import { PoolClient } from '../src/browser/client/pool-client.js';
import { startPoolServer } from '../src/browser/pool/pool-server.js';
import { CHROMIUM_FLAGS } from '../src/browser/pool/chromium-flags.js';
import { DEFAULT_CONTEXT_OPTIONS } from '../src/browser/client/context-options.js';
import { loadConfig } from '../src/config/config.js';
import { silentLogger } from '../src/logger.js';
import { describeMachine, loadAverage, percentile } from './support/machine.js';

const argv = process.argv.slice(2);
const cycles = Number(argv[argv.indexOf('--cycles') + 1] ?? 30) || 30;
const asJson = argv.includes('--json');
const WARMUP = 2;

async function pageReady(page: Page, url: string): Promise<void> {
  await page.goto(url, { timeout: 30_000 });
  await page.locator('h1').waitFor({ state: 'attached', timeout: 30_000 });
}

async function main(): Promise<void> {
  const config = loadConfig();
  if (!config.chromiumPath) throw new Error('no Chromium found (set CHROMIUM_PATH)');
  const chromiumPath = config.chromiumPath;

  const pageServer = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>bench</title><h1>ready</h1>');
  });
  await new Promise<void>((r) => pageServer.listen(0, '127.0.0.1', r));
  const pageUrl = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}/`;

  const token = randomBytes(24).toString('base64url');
  const pool = await startPoolServer({
    size: 2,
    chromiumPath,
    token,
    host: '127.0.0.1',
    maxContextsPerBrowser: 4,
    retireAfterContexts: 10_000,
    maxMemoryMb: 4096,
    logger: silentLogger,
  });
  const connectEachTime = new PoolClient({ url: pool.url, token, keepConnectionMs: 0 });
  const cached = new PoolClient({ url: pool.url, token });

  const scenarios: Array<{ name: string; run: () => Promise<number> }> = [
    {
      name: 'cold launch (browser per lease)',
      run: async () => {
        const t0 = performance.now();
        const browser = await chromium.launch({ executablePath: chromiumPath, args: [...CHROMIUM_FLAGS], headless: true });
        try {
          const context = await browser.newContext(DEFAULT_CONTEXT_OPTIONS);
          await pageReady(await context.newPage(), pageUrl);
          return performance.now() - t0;
        } finally {
          await browser.close();
        }
      },
    },
    {
      name: 'warm pool, new connection',
      run: async () => {
        const t0 = performance.now();
        const lease = await connectEachTime.lease();
        try {
          await pageReady(await lease.context.newPage(), pageUrl);
          return performance.now() - t0;
        } finally {
          await lease.release();
        }
      },
    },
    {
      name: 'warm pool, cached connection',
      run: async () => {
        const t0 = performance.now();
        const lease = await cached.lease();
        try {
          await pageReady(await lease.context.newPage(), pageUrl);
          return performance.now() - t0;
        } finally {
          await lease.release();
        }
      },
    },
  ];

  // Where a warm lease's time goes: the same steps as "new connection", timed one by one.
  const PHASES = ['POST /leases', 'ws connect', 'newContext', 'newPage', 'goto + <h1>'] as const;
  const phaseSamples = new Map<string, number[]>(PHASES.map((p) => [p, []]));
  let countPhases = false;
  scenarios.push({
    name: 'warm pool, step by step',
    run: async () => {
      const marks = [performance.now()];
      const res = await fetch(`${pool.url}/leases`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      const grant = (await res.json()) as { leaseId: string; wsEndpoint: string };
      marks.push(performance.now());
      const browser = await chromium.connect(grant.wsEndpoint, { headers: { authorization: `Bearer ${token}` } });
      try {
        marks.push(performance.now());
        const context = await browser.newContext(DEFAULT_CONTEXT_OPTIONS);
        marks.push(performance.now());
        const page = await context.newPage();
        marks.push(performance.now());
        await pageReady(page, pageUrl);
        marks.push(performance.now());
        if (countPhases) PHASES.forEach((p, i) => phaseSamples.get(p)!.push(marks[i + 1]! - marks[i]!));
        return marks[marks.length - 1]! - marks[0]!;
      } finally {
        await browser.close();
        await fetch(`${pool.url}/leases/${grant.leaseId}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
      }
    },
  });

  const samples = new Map<string, number[]>(scenarios.map((s) => [s.name, []]));
  const load = loadAverage();
  try {
    for (let round = 0; round < WARMUP + cycles; round += 1) {
      countPhases = round >= WARMUP;
      for (const scenario of scenarios) {
        const ms = await scenario.run();
        if (round >= WARMUP) samples.get(scenario.name)!.push(ms);
      }
    }
  } finally {
    await connectEachTime.close();
    await cached.close();
    await pool.close();
    await new Promise<void>((r) => pageServer.close(() => r()));
  }

  const summary = (name: string, values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
    return { scenario: name, n: sorted.length, p50: percentile(sorted, 50), p95: percentile(sorted, 95), mean, min: sorted[0]!, max: sorted[sorted.length - 1]! };
  };
  const rows = scenarios.map((s) => summary(s.name, samples.get(s.name)!));
  const phases = PHASES.map((p) => summary(p, phaseSamples.get(p)!));
  const machine = describeMachine(chromiumPath, load);

  const cold = rows[0]!;
  const ratios = rows.slice(1, 3).map((r) => ({ scenario: r.scenario, p50: cold.p50 / r.p50, p95: cold.p95 / r.p95 }));

  if (asJson) {
    console.log(JSON.stringify({ cycles, warmup: WARMUP, machine, rows, warmPhases: phases, coldOverWarm: ratios }, null, 2));
    return;
  }
  const f = (ms: number) => ms.toFixed(1).padStart(8);
  console.log(`lease-to-ready (page usable), ${cycles} cycles per scenario after ${WARMUP} warm-up rounds, interleaved`);
  console.log(`${'scenario'.padEnd(34)}${'n'.padStart(4)}${'p50 ms'.padStart(9)}${'p95 ms'.padStart(9)}${'mean'.padStart(9)}${'min'.padStart(9)}${'max'.padStart(9)}`);
  const line = (r: ReturnType<typeof summary>) =>
    console.log(`${r.scenario.padEnd(34)}${String(r.n).padStart(4)} ${f(r.p50)} ${f(r.p95)} ${f(r.mean)} ${f(r.min)} ${f(r.max)}`);
  rows.forEach(line);
  console.log('phases of "warm pool, step by step":');
  phases.forEach(line);
  for (const r of ratios) console.log(`cold / ${r.scenario}: p50 ${r.p50.toFixed(1)}x, p95 ${r.p95.toFixed(1)}x`);
  console.log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB, Linux ${machine.kernel}, Node ${machine.node}, playwright-core ${machine.playwrightCore}, ${machine.chromium}, load ${machine.loadAverageAtStart}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
