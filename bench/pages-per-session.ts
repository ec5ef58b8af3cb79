/**
 * Pages per session: how many pages of ONE logged-in portal session are worth running at once,
 * per practice portal. This is where each provider descriptor's `pages.perSession` (the default of
 * `<P>_PAGES_PER_SESSION`) comes from.
 *
 * Per provider: one practice portal at `latency_ms` L, one context leased from a browser pool over
 * its WebSocket proxy (as the batch children do), one ProviderSession logged in once. Then, for
 * each page count p: N validations spread over p lanes (one job per page at a time), timed; and
 * 2·p cancellations of fresh circuits at once, checked against the portal's own counts (every
 * circuit cancelled once, no duplicate cancel submission, nothing failed), so a page count that
 * is fast but wrong shows.
 *
 * Run: npx tsc -p tsconfig.json && node dist/bench/pages-per-session.js
 *      [--providers octotel,openserve,metrofiber,evotel] [--pages 1,2,3,4,6,8] [--jobs 40] [--latency 300] [--json] [--no-save]
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PoolClient } from '../src/browser/client/pool-client.js';
import { startPoolServer } from '../src/browser/pool/pool-server.js';
import { practiceCircuitNumber } from '../src/cli/demo-sample.js';
import { loadConfig } from '../src/config/config.js';
import { EvidenceRecorder } from '../src/evidence/evidence-recorder.js';
import { FsEvidenceStore } from '../src/evidence/fs-evidence-store.js';
import { silentLogger } from '../src/logger.js';
import { startPracticePortal } from '../src/portals/practice-portals.js';
import { ProviderSession } from '../src/providers/provider-session.js';
import { automationFor } from '../src/providers/registry.js';
import { stepAt, totpCodeForStep } from '../src/totp/totp-code.js';
import { describeMachine, loadAverage, sourceState } from './support/machine.js';

const argv = process.argv.slice(2);
const option = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const PROVIDERS = (option('--providers') ?? 'octotel,openserve,metrofiber,evotel').split(',');
const PAGES = (option('--pages') ?? '1,2,3,4,6,8').split(',').map(Number);
const JOBS = Number(option('--jobs') ?? 40);
const LATENCY_MS = Number(option('--latency') ?? 300);
const asJson = argv.includes('--json');
const save = !argv.includes('--no-save');

interface PageRun {
  pages: number;
  validations: number;
  validationWallMs: number;
  msPerJob: number;
  speedup: number;
  validationErrors: string[];
  cancellations: number;
  cancellationErrors: string[];
  /** Circuits the portal counts cancelled more than once, and cancel forms sent for cancelled circuits. */
  cancelledTwice: number;
  duplicateCancelAttempts: number;
  loginsDuring: number;
  loadAverage: string;
}

/** Runs `items` over `lanes` lanes, one at a time per lane. */
async function overLanes<T>(items: T[], lanes: number, work: (item: T, lane: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      while (next < items.length) {
        const item = items[next++]!;
        await work(item, lane);
      }
    }),
  );
}

async function json(method: string, url: string, body?: unknown): Promise<any> {
  const res = await fetch(url, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return res.json();
}

async function main(): Promise<void> {
  const source = sourceState();
  const config = loadConfig({ env: { LOG_LEVEL: 'silent' } });
  const chromiumPath = config.chromiumPath;
  if (!chromiumPath) throw new Error('no Chromium found (set CHROMIUM_PATH)');
  const token = randomBytes(24).toString('base64url');
  const pool = await startPoolServer({ size: 2, chromiumPath, token, host: '127.0.0.1', maxContextsPerBrowser: 4, retireAfterContexts: 10_000, maxMemoryMb: 4096, logger: silentLogger });
  const client = new PoolClient({ url: pool.url, token });
  const evidenceDir = mkdtempSync(join(tmpdir(), 'rpa-bench-pages-'));
  const evidence = new EvidenceRecorder(new FsEvidenceStore(evidenceDir));
  const machine = describeMachine(chromiumPath);
  const results: Array<{ provider: string; runs: PageRun[] }> = [];
  let seed = 200_000;
  try {
    for (const provider of PROVIDERS) {
      const automation = automationFor(provider);
      const account = automation.descriptor.practiceAccount;
      const portal = await startPracticePortal(provider, { account, logger: silentLogger });
      const lease = await client.lease();
      let lastStep = 0;
      const session = new ProviderSession({
        automation,
        context: lease.context,
        baseUrl: portal.url,
        credentials: { login: account.login, password: account.password },
        // Each login its own step, as the central TOTP manager hands them out.
        getTotp: account.totpSecret
          ? async () => {
              lastStep = Math.max(lastStep + 1, stepAt(Date.now()));
              return totpCodeForStep(account.totpSecret!, lastStep);
            }
          : undefined,
        reportTotp: account.totpSecret ? async () => undefined : undefined,
        evidence,
        batchId: `bench-${provider}`,
        logger: silentLogger,
      });
      const runs: PageRun[] = [];
      try {
        await json('POST', `${portal.url}/__sandbox/config`, { latency_ms: LATENCY_MS });
        await session.login();
        // One warm-up round on every lane's page, not counted.
        const widest = Math.max(...PAGES);
        await overLanes(
          Array.from({ length: widest }, () => practiceCircuitNumber(provider, seed++)),
          widest,
          async (circuit, lane) => void (await session.validate('warm-up', circuit, lane)),
        );
        for (const pages of PAGES) {
          const before = await json('GET', `${portal.url}/__sandbox/stats`);
          const loginsBefore = session.loginCount;
          const validationErrors: string[] = [];
          const circuits = Array.from({ length: JOBS }, () => practiceCircuitNumber(provider, seed++));
          const t0 = performance.now();
          await overLanes(circuits, pages, async (circuit, lane) => {
            await session.validate(`v-${circuit}`, circuit, lane).catch((err: Error) => void validationErrors.push(`${circuit}: ${err.message}`));
          });
          const validationWallMs = performance.now() - t0;
          // Cancellations of circuits that are cancellable (last digit 1–8), 2 per page, all at once.
          const cancelCircuits: string[] = [];
          while (cancelCircuits.length < 2 * pages) {
            const circuit = practiceCircuitNumber(provider, seed++);
            const last = Number(circuit.at(-1));
            if (last >= 1 && last <= 8) cancelCircuits.push(circuit);
          }
          const cancellationErrors: string[] = [];
          await overLanes(cancelCircuits, pages, async (circuit, lane) => {
            try {
              const { result } = await session.cancel(`c-${circuit}`, { circuit_number: circuit }, {}, lane);
              if (!result.cancelled || result.already_cancelled) cancellationErrors.push(`${circuit}: ${JSON.stringify(result)}`);
            } catch (err) {
              cancellationErrors.push(`${circuit}: ${(err as Error).message}`);
            }
          });
          const after = await json('GET', `${portal.url}/__sandbox/stats`);
          const counts = after.cancellations as Record<string, number>;
          runs.push({
            pages,
            validations: JOBS,
            validationWallMs,
            msPerJob: validationWallMs / JOBS,
            speedup: 0,
            validationErrors,
            cancellations: cancelCircuits.length,
            cancellationErrors: [...cancellationErrors, ...cancelCircuits.filter((c) => counts[c] !== 1).map((c) => `${c}: portal counts ${counts[c] ?? 0} cancellations`)],
            cancelledTwice: Object.values(counts).filter((n) => n > 1).length,
            duplicateCancelAttempts: after.duplicate_cancel_attempts - before.duplicate_cancel_attempts,
            loginsDuring: session.loginCount - loginsBefore,
            loadAverage: loadAverage(),
          });
          if (!asJson) process.stderr.write(`${provider}: ${pages} page(s) ${(validationWallMs / JOBS).toFixed(0)} ms/job, errors ${validationErrors.length}+${runs.at(-1)!.cancellationErrors.length}\n`);
        }
      } finally {
        await session.close();
        await lease.release();
        await portal.close();
      }
      const one = runs.find((r) => r.pages === 1) ?? runs[0]!;
      for (const r of runs) r.speedup = one.msPerJob / r.msPerJob;
      results.push({ provider, runs });
    }
  } finally {
    await client.close();
    await pool.close();
    rmSync(evidenceDir, { recursive: true, force: true });
  }
  const result = { date: new Date().toISOString(), settings: { latencyMs: LATENCY_MS, validationsPerRun: JOBS, pages: PAGES }, machine, source, results };
  if (save) {
    const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `pages-per-session-${result.date.slice(0, 10)}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    if (!asJson) process.stderr.write(`results written to ${file}\n`);
  }
  if (asJson) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  console.log(`pages of one session, latency_ms ${LATENCY_MS}, ${JOBS} validations per run (+ 2 cancellations per page, checked)`);
  console.log(`${'provider'.padEnd(11)}${'pages'.padStart(6)}${'ms/job'.padStart(8)}${'speedup'.padStart(9)}${'errors'.padStart(8)}${'logins'.padStart(8)}  load`);
  for (const { provider, runs } of results) {
    for (const r of runs) {
      const errors = r.validationErrors.length + r.cancellationErrors.length + r.duplicateCancelAttempts + r.cancelledTwice;
      console.log(`${provider.padEnd(11)}${String(r.pages).padStart(6)}${r.msPerJob.toFixed(0).padStart(8)}${`${r.speedup.toFixed(2)}x`.padStart(9)}${String(errors).padStart(8)}${String(r.loginsDuring).padStart(8)}  ${r.loadAverage}`);
    }
  }
  console.log(`source: ${source.commit}${source.uncommittedFiles > 0 ? ` + ${source.uncommittedFiles} uncommitted file(s)` : ''}; machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${machine.chromium}, load at start ${machine.loadAverageAtStart}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
