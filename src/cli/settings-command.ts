import type { Command } from 'commander';
import { settingRows, settingsMarkdown } from '../config/settings-table.js';

/** `rpa settings [--markdown]`: every setting with its default and what it is for. */
export function registerSettingsCommand(program: Command): void {
  program
    .command('settings')
    .description('every setting (environment variable or SECRETS_DIR file) with its default and what it does')
    .option('--markdown', 'print the table the README carries')
    .option('--json', 'print JSON')
    .action((options: { markdown?: boolean; json?: boolean }) => {
      if (options.json) return void process.stdout.write(`${JSON.stringify(settingRows())}\n`);
      if (options.markdown) return void process.stdout.write(`${settingsMarkdown()}\n`);
      const rows = settingRows().map((r) => [r.variable.replace(/`/g, ''), r.default.replace(/`/g, ''), r.description]);
      const width = Math.max(...rows.map((r) => r[0]!.length));
      process.stdout.write(rows.map((r) => `${r[0]!.padEnd(width)}  ${r[2]} (default: ${r[1]})`).join('\n') + '\n');
    });
}
