import type { Command } from 'commander';
import type { BrowserInfo, PoolStatus } from '../browser/pool/pool-api.js';
import { PoolClient } from '../browser/client/pool-client.js';
import { loadConfig } from '../config/config.js';
import { RpaError } from '../errors/failures.js';

/** `rpa pool status [--json]`: the browser pool's numbers (GET /status) and its browsers (GET /browsers). */
export function registerPoolCommands(program: Command): void {
  const pool = program.command('pool').description('the remote browser pool');
  pool
    .command('status')
    .description('browsers, contexts in use, restarts and retirements of the pool at BROWSER_POOL_URL')
    .option('--json', 'print JSON instead of a table')
    .action(async (options: { json?: boolean }) => {
      const config = loadConfig();
      const { url, token } = config.browserPool;
      if (!url || !token) {
        throw new RpaError(
          'CONFIG_INVALID',
          'set BROWSER_POOL_URL and BROWSER_POOL_TOKEN to reach a browser pool (a pool started inside `npm start` without a token is private to that process)',
          { field: url ? 'BROWSER_POOL_TOKEN' : 'BROWSER_POOL_URL' },
        );
      }
      const client = new PoolClient({ url, token });
      try {
        const [status, browsers] = await Promise.all([client.status(), client.browsers()]);
        process.stdout.write(options.json ? `${JSON.stringify({ status, browsers })}\n` : formatPoolStatus(status, browsers));
      } finally {
        await client.close();
      }
    });
}

/** A plain-text summary and one line per browser. */
export function formatPoolStatus(status: PoolStatus, browsers: BrowserInfo[]): string {
  const b = status.browsers;
  const lines = [
    `browser pool (playwright-core ${status.playwrightVersion}): size ${status.size}, ` +
      `${b.ready} ready, ${b.starting} starting, ${b.retiring} retiring, ${b.dead} dead`,
    `contexts: ${status.busyContexts} leased, ${status.openContexts} open, ${status.freeSlots} free (max ${status.maxContextsPerBrowser} per browser)`,
    `restarts ${status.restarts}, retired ${status.retired}, leases granted ${status.leasesGranted}, expired ${status.leasesExpired}`,
  ];
  const header = ['browser', 'state', 'leases', 'contexts', 'created', 'memory MB'];
  const rows = browsers.map((x) => [x.id, x.state + (x.retireReason ? ` (${x.retireReason})` : ''), String(x.leases), String(x.contexts), String(x.contextsCreated), x.memoryMb.toFixed(0)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [...lines, line(header), ...rows.map(line)].join('\n') + '\n';
}
