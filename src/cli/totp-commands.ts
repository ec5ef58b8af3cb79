import type { Command } from 'commander';
import { loadConfig } from '../config/config.js';
import { createValkey } from '../queues/valkey.js';
import { valkeyToTalkTo } from './cli-context.js';
import { TOTP_EVENTS, type TotpStats } from '../totp/totp-counters.js';
import { TotpManager } from '../totp/totp-manager.js';
import { totpSettingsFromConfig } from '../totp/totp-settings.js';

/** `rpa totp status [--day YYYY-MM-DD] [--json]`: the TOTP manager's counters per provider. */
export function registerTotpCommands(program: Command): void {
  const totp = program.command('totp').description('TOTP codes handed out to logins, per provider');
  totp
    .command('status')
    .description('codes generated, consumed (handed to a login), accepted and refused per provider for one UTC day')
    .option('--day <date>', 'UTC day as YYYY-MM-DD (default: today)')
    .option('--json', 'print JSON instead of a table')
    .action(async (options: { day?: string; json?: boolean }) => {
      const config = loadConfig();
      const redis = createValkey(valkeyToTalkTo(config), 'producer', { enableOfflineQueue: true });
      const manager = new TotpManager({ redis, ...totpSettingsFromConfig(config) });
      try {
        const day = options.day ?? new Date().toISOString().slice(0, 10);
        const stats = await manager.stats(day);
        process.stdout.write(options.json ? `${JSON.stringify({ day, providers: stats })}\n` : formatTotpStats(day, stats));
      } finally {
        await manager.close();
        redis.disconnect();
      }
    });
}

/** A plain-text table of one day's counters. */
export function formatTotpStats(day: string, stats: TotpStats): string {
  const providers = Object.keys(stats).sort();
  if (providers.length === 0) return `TOTP ${day} (UTC): no codes handed out\n`;
  const header = ['provider', ...TOTP_EVENTS];
  const rows = providers.map((p) => [p, ...TOTP_EVENTS.map((e) => String(stats[p]![e]))]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [`TOTP ${day} (UTC)`, line(header), ...rows.map(line)].join('\n') + '\n';
}
