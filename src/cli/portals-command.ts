import type { Command } from 'commander';
import { loadConfig, type Config } from '../config/config.js';
import { createLogger } from '../logger.js';
import { startPracticePortals, type PracticePortals } from '../portals/practice-portals.js';

/** Starts every provider's practice portal with the account and port from config. */
export function startPortalsFromConfig(config: Config, host: string): Promise<PracticePortals> {
  const logger = createLogger({ level: config.logLevel, name: 'portals', destination: process.stderr });
  const portals: Parameters<typeof startPracticePortals>[0]['portals'] = {};
  for (const [name, provider] of Object.entries(config.providers)) {
    portals[name] = {
      port: provider.practicePort,
      account: { login: provider.login, password: provider.password, totpSecret: provider.totpSecret },
    };
  }
  return startPracticePortals({ portals, host, logger });
}

/** One line per portal: name padded, then its base URL. */
export function formatPortalUrls(urls: Record<string, string>): string {
  const width = Math.max(...Object.keys(urls).map((n) => n.length)) + 4;
  return Object.entries(urls)
    .map(([name, url]) => `${name.padEnd(width)}${url}\n`)
    .join('');
}

/**
 * `rpa portals [--host <host>] [--json]`: runs the four practice portals until SIGINT or
 * SIGTERM. Ports and accounts come from config (`<NAME>_PORT`, 0 = any free port, and the
 * same credential variables the robots read).
 */
export function registerPortalsCommand(program: Command): void {
  program
    .command('portals')
    .description('run the practice portals (Octotel, Openserve, MetroFiber, Evotel) until interrupted')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--json', 'print the base URLs as one JSON object')
    .action(async (options: { host: string; json?: boolean }) => {
      const config = loadConfig();
      const portals = await startPortalsFromConfig(config, options.host);
      process.stdout.write(options.json ? `${JSON.stringify(portals.urls)}\n` : formatPortalUrls(portals.urls));
      await new Promise<void>((resolveStop, rejectStop) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          portals.close().then(resolveStop, rejectStop);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
