import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { freePort } from '../../../src/infra/free-port.js';

export interface PrometheusServer {
  url: string;
  /** GET /api/v1/<path> with query parameters; throws unless the API says success. */
  api(path: string, params?: Record<string, string | string[]>): Promise<any>;
  stop(): Promise<void>;
}

/**
 * Debian's Prometheus (package prometheus) on 127.0.0.1 and a free port, with its data in `dir`,
 * scraping one target's /metrics with a bearer token read from a file, and loading `ruleFiles`.
 * Scrapes every 2 s and evaluates the rules every second, so a test need not wait long.
 */
export async function startPrometheus(options: { dir: string; target: string; bearerToken: string; ruleFiles: string[] }): Promise<PrometheusServer> {
  const port = await freePort();
  mkdirSync(join(options.dir, 'data'), { recursive: true });
  const tokenFile = join(options.dir, 'scrape-token');
  writeFileSync(tokenFile, options.bearerToken, { mode: 0o600 });
  const configFile = join(options.dir, 'prometheus.yml');
  writeFileSync(
    configFile,
    dump({
      global: { scrape_interval: '2s', scrape_timeout: '2s', evaluation_interval: '1s' },
      rule_files: options.ruleFiles,
      scrape_configs: [
        {
          // The job label a ServiceMonitor on Service rpa-api gives (the rules' up{job="rpa-api"}).
          job_name: 'rpa-api',
          metrics_path: '/metrics',
          authorization: { type: 'Bearer', credentials_file: tokenFile },
          static_configs: [{ targets: [options.target] }],
        },
      ],
    }),
  );
  const child: ChildProcess = spawn(
    'prometheus',
    [`--config.file=${configFile}`, `--storage.tsdb.path=${join(options.dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ENOENT' ? new Error('prometheus is not on PATH: install Debian\'s prometheus package (npm test does: scripts/bootstrap.mjs)') : err),
    ),
  );
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ready = await Promise.race([
      fetch(`${url}/-/ready`).then((r) => r.ok, () => false),
      spawnError,
      exited.then((code) => {
        throw new Error(`prometheus exited (${code}) before it was ready: ${stderr}`);
      }),
    ]);
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus was not ready within 30 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    async api(path, params = {}) {
      const query = new URLSearchParams();
      for (const [k, v] of Object.entries(params)) for (const one of Array.isArray(v) ? v : [v]) query.append(k, one);
      const res = await fetch(`${url}/api/v1/${path}?${query}`);
      const body = (await res.json()) as { status: string; data: any; error?: string };
      if (body.status !== 'success') throw new Error(`prometheus ${path} ${JSON.stringify(params)}: ${body.error}`);
      return body.data;
    },
    stop,
  };
}
