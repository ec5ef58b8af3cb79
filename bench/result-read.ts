/**
 * Reading a search result: one `evaluateAll` over the result rows (what CircuitReader does) against
 * one locator call per field, on a browser of our own (local, Playwright's pipe) and on a pool
 * browser over the pool's WebSocket proxy (remote, as the batch children reach it). Also, per
 * transport, the parts of one validation job for scale: the search page load, the wait for its
 * outcome, the read and the evidence screenshot.
 *
 * Per provider (Octotel: a table row; Evotel: fields in a card) and transport: a logged-in
 * session on the practice portal at latency 0, then `--reads` circuits (found ones), each page
 * loaded once and read both ways, the order alternating, each way timed alone.
 *
 * Run: npx tsc -p tsconfig.json && node dist/bench/result-read.js [--reads 60] [--json] [--no-save]
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { DEFAULT_CONTEXT_OPTIONS } from '../src/browser/client/context-options.js';
import { PoolClient } from '../src/browser/client/pool-client.js';
import { CHROMIUM_FLAGS } from '../src/browser/pool/chromium-flags.js';
import { startPoolServer } from '../src/browser/pool/pool-server.js';
import { practiceCircuitNumber } from '../src/cli/demo-sample.js';
import { loadConfig } from '../src/config/config.js';
import { EvidenceRecorder } from '../src/evidence/evidence-recorder.js';
import { FsEvidenceStore } from '../src/evidence/fs-evidence-store.js';
import { silentLogger } from '../src/logger.js';
import { startPracticePortal } from '../src/portals/practice-portals.js';
import type { FormPortalAutomation } from '../src/providers/form-portal/form-portal-automation.js';
import { ProviderSession } from '../src/providers/provider-session.js';
import { automationFor } from '../src/providers/registry.js';
import { stepAt, totpCodeForStep } from '../src/totp/totp-code.js';
import { describeMachine, percentile, sourceState } from './support/machine.js';

const argv = process.argv.slice(2);
const option = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const READS = Number(option('--reads') ?? 60);
const asJson = argv.includes('--json');
const save = !argv.includes('--no-save');
const PROVIDERS = ['octotel', 'evotel'];
const EVIDENCE_JPEG_QUALITY = 80;

type Fields = Record<string, string>;

/** The way CircuitReader reads: every field of every result row in one round trip. */
async function readAll(results: Locator, fields: Fields): Promise<Record<string, string | null>[]> {
  return results.evaluateAll((elements, wanted) => {
    return elements.map((element) => {
      const row: Record<string, string | null> = {};
      for (const [field, selector] of Object.entries(wanted)) {
        const found = element.querySelector(selector as string);
        row[field] = found === null ? null : (found.textContent ?? '').replace(/\s+/g, ' ').trim();
      }
      return row;
    });
  }, fields);
}

/** One locator call per field of the first row. */
async function readEach(results: Locator, fields: Fields): Promise<Record<string, string | null>> {
  const row: Record<string, string | null> = {};
  for (const [field, selector] of Object.entries(fields)) {
    const text = await results.first().locator(selector).textContent({ timeout: 5_000 });
    row[field] = (text ?? '').replace(/\s+/g, ' ').trim();
  }
  return row;
}

interface Summary {
  n: number;
  p50: number;
  p95: number;
  mean: number;
}

function summary(values: number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  return { n: sorted.length, p50: percentile(sorted, 50), p95: percentile(sorted, 95), mean: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length) };
}

async function main(): Promise<void> {
  const source = sourceState();
  const config = loadConfig({ env: { LOG_LEVEL: 'silent' } });
  const chromiumPath = config.chromiumPath;
  if (!chromiumPath) throw new Error('no Chromium found (set CHROMIUM_PATH)');
  const machine = describeMachine(chromiumPath);
  const token = randomBytes(24).toString('base64url');
  const pool = await startPoolServer({ size: 1, chromiumPath, token, host: '127.0.0.1', maxContextsPerBrowser: 4, retireAfterContexts: 10_000, maxMemoryMb: 4096, logger: silentLogger });
  const client = new PoolClient({ url: pool.url, token });
  const local = await chromium.launch({ executablePath: chromiumPath, args: [...CHROMIUM_FLAGS], headless: true });
  const evidenceDir = mkdtempSync(join(tmpdir(), 'rpa-bench-read-'));
  const evidence = new EvidenceRecorder(new FsEvidenceStore(evidenceDir));
  const rows: Array<{ provider: string; transport: string; evaluateAll: Summary; perField: Summary; fieldCalls: number; load: Summary; outcomeWait: Summary; screenshot: Summary; screenshotJpeg: Summary; pngBytes: number; jpegBytes: number; validateJob: Summary }> = [];
  let seed = 300_000;
  try {
    for (const provider of PROVIDERS) {
      const automation = automationFor(provider) as FormPortalAutomation;
      const account = automation.descriptor.practiceAccount;
      const portal = await startPracticePortal(provider, { account, logger: silentLogger });
      const search = automation.portal.search;
      const fields: Fields = { ...search.fields };
      try {
        for (const transport of ['local', 'remote'] as const) {
          let release = async () => undefined as unknown;
          let context: BrowserContext;
          if (transport === 'local') {
            context = await local.newContext(DEFAULT_CONTEXT_OPTIONS);
            release = () => context.close();
          } else {
            const lease = await client.lease();
            context = lease.context;
            release = () => lease.release();
          }
          let lastStep = 0;
          const session = new ProviderSession({
            automation,
            context,
            baseUrl: portal.url,
            credentials: { login: account.login, password: account.password },
            getTotp: account.totpSecret
              ? async () => {
                  lastStep = Math.max(lastStep + 1, stepAt(Date.now()));
                  return totpCodeForStep(account.totpSecret!, lastStep);
                }
              : undefined,
            reportTotp: account.totpSecret ? async () => undefined : undefined,
            evidence,
            batchId: `read-${provider}-${transport}`,
            logger: silentLogger,
          });
          try {
            await session.login();
            const page: Page = context.pages()[0]!;
            const times = { evaluateAll: [] as number[], perField: [] as number[], load: [] as number[], outcomeWait: [] as number[], screenshot: [] as number[], screenshotJpeg: [] as number[], pngBytes: [] as number[], jpegBytes: [] as number[], validateJob: [] as number[] };
            for (let i = 0; i < READS + 3; i++) {
              let circuit = practiceCircuitNumber(provider, seed++);
              while (!/[1-8]$/.test(circuit)) circuit = practiceCircuitNumber(provider, seed++);
              const count = i >= 3;
              const path = 'path' in search.open ? search.open.path.replace('{circuit}', encodeURIComponent(circuit)) : '';
              const loadFrom = performance.now();
              await page.goto(new URL(path, portal.url).toString(), { waitUntil: 'domcontentloaded' });
              const loaded = performance.now();
              let t = loaded;
              const results = page.locator(search.result.replace('{circuit}', JSON.stringify(circuit)));
              await results.first().waitFor({ state: 'visible', timeout: 5_000 });
              const visible = performance.now();
              const ways = i % 2 === 0 ? (['evaluateAll', 'perField'] as const) : (['perField', 'evaluateAll'] as const);
              for (const way of ways) {
                t = performance.now();
                const read = way === 'evaluateAll' ? (await readAll(results, fields))[0] : await readEach(results, fields);
                const took = performance.now() - t;
                if (!read?.status) throw new Error(`${provider} ${circuit}: nothing read (${way})`);
                if (count) times[way].push(took);
              }
              // The evidence screenshot as the session takes it (full page), as PNG and as JPEG, the order alternating.
              const shots: Record<'png' | 'jpeg', { ms: number; bytes: number }> = { png: { ms: 0, bytes: 0 }, jpeg: { ms: 0, bytes: 0 } };
              for (const type of i % 2 === 0 ? (['png', 'jpeg'] as const) : (['jpeg', 'png'] as const)) {
                t = performance.now();
                const body = await page.screenshot({ fullPage: true, type, ...(type === 'jpeg' ? { quality: EVIDENCE_JPEG_QUALITY } : {}), path: join(evidenceDir, `shot-${i % 3}.${type}`) });
                shots[type] = { ms: performance.now() - t, bytes: body.length };
              }
              const shot = shots.png.ms;
              if (count) times.load.push(loaded - loadFrom);
              // The whole job as the batch runs it, on the next circuit (load, wait, read, evidence).
              let next = practiceCircuitNumber(provider, seed++);
              while (!/[1-8]$/.test(next)) next = practiceCircuitNumber(provider, seed++);
              t = performance.now();
              await session.validate(`bench-${i}`, next);
              const job = performance.now() - t;
              if (count) {
                times.outcomeWait.push(visible - loaded);
                times.screenshot.push(shot);
                times.screenshotJpeg.push(shots.jpeg.ms);
                times.pngBytes.push(shots.png.bytes);
                times.jpegBytes.push(shots.jpeg.bytes);
                times.validateJob.push(job);
              }
            }
            rows.push({
              provider,
              transport,
              evaluateAll: summary(times.evaluateAll),
              perField: summary(times.perField),
              fieldCalls: Object.keys(fields).length,
              load: summary(times.load),
              outcomeWait: summary(times.outcomeWait),
              screenshot: summary(times.screenshot),
              screenshotJpeg: summary(times.screenshotJpeg),
              pngBytes: summary(times.pngBytes).p50,
              jpegBytes: summary(times.jpegBytes).p50,
              validateJob: summary(times.validateJob),
            });
            if (!asJson) process.stderr.write(`${provider} ${transport}: evaluateAll p50 ${rows.at(-1)!.evaluateAll.p50.toFixed(1)} ms, per field p50 ${rows.at(-1)!.perField.p50.toFixed(1)} ms\n`);
          } finally {
            await session.close();
            await release();
          }
        }
      } finally {
        await portal.close();
      }
    }
  } finally {
    await local.close();
    await client.close();
    await pool.close();
    rmSync(evidenceDir, { recursive: true, force: true });
  }
  const result = { date: new Date().toISOString(), settings: { reads: READS, latencyMs: 0 }, machine, source, rows };
  if (save) {
    const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `result-read-${result.date.slice(0, 10)}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    if (!asJson) process.stderr.write(`results written to ${file}\n`);
  }
  if (asJson) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  const f = (s: Summary) => `${s.p50.toFixed(1).padStart(7)}${s.p95.toFixed(1).padStart(8)}`;
  console.log(`reading one search result, ${READS} reads per row, latency 0 (times in ms: p50 p95)`);
  console.log(`${'provider'.padEnd(9)}${'transport'.padEnd(10)}${'evaluateAll'.padStart(15)}${'per field'.padStart(15)}${'page load'.padStart(15)}${'wait'.padStart(15)}${'screenshot'.padStart(15)}${'whole job'.padStart(15)}`);
  for (const r of rows) console.log(`${r.provider.padEnd(9)}${r.transport.padEnd(10)}${f(r.evaluateAll)}${f(r.perField)}${f(r.load)}${f(r.outcomeWait)}${f(r.screenshot)}${f(r.validateJob)}`);
  console.log(`\nthe evidence screenshot (full page), PNG against JPEG quality ${EVIDENCE_JPEG_QUALITY} (ms p50 p95; bytes p50)`);
  console.log(`${'provider'.padEnd(9)}${'transport'.padEnd(10)}${'png'.padStart(15)}${'jpeg'.padStart(15)}${'png bytes'.padStart(11)}${'jpeg bytes'.padStart(11)}${'time jpeg/png'.padStart(15)}`);
  for (const r of rows) {
    console.log(`${r.provider.padEnd(9)}${r.transport.padEnd(10)}${f(r.screenshot)}${f(r.screenshotJpeg)}${String(r.pngBytes).padStart(11)}${String(r.jpegBytes).padStart(11)}${(r.screenshotJpeg.p50 / r.screenshot.p50).toFixed(2).padStart(14)}x`);
  }
  console.log(`per field = ${rows[0]?.fieldCalls ?? '?'} locator calls (Octotel 5, Evotel 4); source ${source.commit}${source.uncommittedFiles ? ` + ${source.uncommittedFiles} uncommitted` : ''}; load at start ${machine.loadAverageAtStart}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
