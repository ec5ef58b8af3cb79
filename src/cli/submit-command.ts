import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { loadConfig } from '../config/config.js';
import type { JobAction } from '../db/schema.js';
import { RpaError } from '../errors/failures.js';
import { MAX_BULK_JOBS } from '../jobs/job-request.js';
import { readLocalAdminKey } from '../api/auth/local-admin-key.js';
import { parseAction, parseDurationMs, parseProvider } from './cli-options.js';
import { parseCsv } from './csv-file.js';

const COLUMNS = ['circuit_number', 'reason', 'effective_date', 'external_id'] as const;
const FINAL = new Set(['completed', 'failed', 'cancelled']);

interface SubmitOptions {
  provider: string;
  action: JobAction;
  file: string;
  wait?: boolean;
  timeout: number;
  api?: string;
  key?: string;
  callbackUrl?: string;
  json?: boolean;
}

/**
 * `rpa submit --provider p --action a --file circuits.csv [--wait]`: bulk submission through the
 * HTTP API (the same auth, validation and idempotency as any client). Each chunk of the file is
 * sent with an Idempotency-Key derived from its content, so running the same command again
 * returns the jobs of the first run instead of adding new ones.
 */
export function registerSubmitCommand(program: Command): void {
  program
    .command('submit')
    .description('submit the circuits of a CSV file (header row with circuit_number; optional reason, effective_date, external_id) through the API')
    .addOption(new Option('--provider <name>', 'provider').argParser(parseProvider).makeOptionMandatory())
    .addOption(new Option('--action <action>', 'validation or cancellation').argParser(parseAction).makeOptionMandatory())
    .requiredOption('--file <path>', 'CSV file')
    .option('--wait', 'wait until every job has finished, with a progress bar, then print a summary')
    .addOption(new Option('--timeout <duration>', 'with --wait: give up after this long (30m, 2h …)').default(2 * 3_600_000, '2h').argParser(parseDurationMs))
    .option('--api <url>', 'API base URL (default http://127.0.0.1:$PORT)')
    .option('--key <key>', 'API key (default $RPA_API_KEY, else the local admin key file)')
    .option('--callback-url <url>', 'callback URL for every job')
    .option('--json', 'print JSON')
    .action(async (options: SubmitOptions) => {
      const config = loadConfig();
      const api = (options.api ?? `http://127.0.0.1:${config.port}`).replace(/\/+$/, '');
      const key = options.key ?? readLocalAdminKey(config);
      if (!key) throw new RpaError('UNAUTHENTICATED', 'no API key: pass --key, set RPA_API_KEY, or start the system once so it writes its local admin key');
      let text: string;
      try {
        text = readFileSync(options.file, 'utf8');
      } catch (error) {
        throw new RpaError('VALIDATION_FAILED', `cannot read ${options.file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
      }
      const rows = parseCsv(text);
      if (rows.length === 0) throw new RpaError('VALIDATION_FAILED', `${options.file} has a header but no rows`);
      if (!('circuit_number' in rows[0]!)) throw new RpaError('VALIDATION_FAILED', `${options.file}: the header row needs a circuit_number column`);
      const jobs = rows.map((row) => Object.fromEntries(COLUMNS.filter((c) => row[c]).map((c) => [c, row[c]!])));

      const client = new ApiClient(api, key);
      const ids: number[] = [];
      for (let start = 0; start < jobs.length; start += MAX_BULK_JOBS) {
        const chunk = jobs.slice(start, start + MAX_BULK_JOBS);
        const body = { provider: options.provider, action: options.action, callback_url: options.callbackUrl, jobs: chunk };
        const idempotency = `rpa-submit-${createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 40)}`;
        const res = await client.call<{ job_ids: number[] }>('POST', '/jobs/bulk', body, { 'idempotency-key': idempotency });
        ids.push(...res.job_ids);
      }
      if (!options.wait) {
        if (options.json) process.stdout.write(`${JSON.stringify({ submitted: ids.length, job_ids: ids })}\n`);
        else process.stdout.write(`submitted ${ids.length} ${options.action} job(s) for ${options.provider}: ids ${ids[0]}…${ids.at(-1)}\n`);
        return;
      }
      const final = await waitForJobs(client, ids, new Date(Date.now() + options.timeout), !options.json);
      const byStatus: Record<string, number> = {};
      let found = 0;
      for (const job of final.values()) {
        byStatus[job.status] = (byStatus[job.status] ?? 0) + 1;
        if (job.result?.found === true) found++;
      }
      const failed = [...final.values()].filter((j) => j.status === 'failed').map((j) => ({ job_id: j.job_id, circuit_number: j.parameters.circuit_number, error: j.error }));
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ submitted: ids.length, job_ids: ids, statuses: byStatus, found, failed })}\n`);
        return;
      }
      const lines = [`${ids.length} job(s): ${Object.entries(byStatus).map(([s, n]) => `${n} ${s}`).join(', ')}${options.action === 'validation' ? `; ${found} circuit(s) found` : ''}`];
      for (const f of failed.slice(0, 20)) lines.push(`  failed ${f.job_id} ${f.circuit_number}: ${f.error?.code ?? ''} ${f.error?.message ?? ''}`.trimEnd());
      if (failed.length > 20) lines.push(`  … and ${failed.length - 20} more (rpa jobs list --status failed)`);
      process.stdout.write(lines.join('\n') + '\n');
    });
}

interface JobView {
  job_id: number;
  status: string;
  parameters: { circuit_number: string };
  result: { found?: boolean } | null;
  error: { code: string; message: string } | null;
}

async function waitForJobs(client: ApiClient, ids: number[], deadline: Date, bar: boolean): Promise<Map<number, JobView>> {
  const done = new Map<number, JobView>();
  const progress = bar ? new SingleBar({ format: 'jobs [{bar}] {value}/{total} finished | {eta_formatted} left', stream: process.stderr, hideCursor: true }, Presets.shades_classic) : undefined;
  progress?.start(ids.length, 0);
  try {
    while (done.size < ids.length) {
      if (Date.now() > deadline.getTime()) throw new RpaError('SERVICE_UNAVAILABLE', `gave up waiting: ${ids.length - done.size} of ${ids.length} job(s) still unfinished (see rpa jobs list)`);
      const open = ids.filter((id) => !done.has(id));
      for (let i = 0; i < open.length; i += 16) {
        const views = await Promise.all(open.slice(i, i + 16).map((id) => client.call<JobView>('GET', `/jobs/${id}`)));
        for (const view of views) if (FINAL.has(view.status)) done.set(view.job_id, view);
      }
      progress?.update(done.size);
      // A referenced timer: with nothing else pending, an unreferenced one would let the process end here (exit 13).
      if (done.size < ids.length) await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  } finally {
    progress?.stop();
  }
  return done;
}

/** The few calls `rpa submit` and `rpa demo` make; an API error becomes a one-line RpaError. */
export class ApiClient {
  constructor(
    private readonly base: string,
    private readonly key: string,
  ) {}

  /**
   * One API call. A 429 (RATE_LIMITED: the request was not carried out) is sent again after the
   * answer's Retry-After, up to `maxWaits` times: a large file or a long `--wait` stays within
   * the key's rate limits instead of failing.
   */
  async call<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, maxWaits = 30): Promise<T> {
    for (let waits = 0; ; waits++) {
      const answer = await this.once<T>(method, path, body, headers);
      if (answer.kind === 'done') return answer.value;
      if (waits >= maxWaits) throw new RpaError('RATE_LIMITED', `the API kept refusing ${method} ${path} as rate limited (429) after ${maxWaits} waits`);
      // Not unref()ed: this wait is all a CLI process has left to do.
      await new Promise((resolve) => setTimeout(resolve, answer.retryAfterMs));
    }
  }

  private async once<T>(method: string, path: string, body: unknown, headers: Record<string, string>): Promise<{ kind: 'done'; value: T } | { kind: 'later'; retryAfterMs: number }> {
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers: { authorization: `Bearer ${this.key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (error) {
      throw new RpaError('SERVICE_UNAVAILABLE', `cannot reach the API at ${this.base} (is the system running? --api sets the URL)`, { cause: error });
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    // A request with more jobs than a window allows is told to split: waiting would not help.
    const tooBig = (parsed as { error?: { field?: string } } | undefined)?.error?.field === 'jobs';
    if (res.status === 429 && !tooBig) {
      const seconds = Number(res.headers.get('retry-after'));
      return { kind: 'later', retryAfterMs: Math.min(60, Number.isFinite(seconds) && seconds > 0 ? seconds : 1) * 1_000 };
    }
    if (!res.ok) {
      const error = (parsed as { error?: { message?: string; field?: string } } | undefined)?.error;
      throw new RpaError('VALIDATION_FAILED', `the API refused ${method} ${path} (${res.status}): ${error?.field ? `${error.field}: ` : ''}${error?.message ?? text.slice(0, 200)}`);
    }
    return { kind: 'done', value: parsed as T };
  }
}
