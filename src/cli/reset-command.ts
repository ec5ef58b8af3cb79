import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config/config.js';
import { RpaError } from '../errors/failures.js';
import { lockDataDir } from '../infra/data-dir-lock.js';
import { removeCluster } from '../infra/postgres-cluster.js';

/** `rpa reset --yes`: start over — deletes the data folder and its embedded Postgres cluster. */
export function registerResetCommand(program: Command): void {
  program
    .command('reset')
    .description('start over: delete the data folder (embedded Postgres and Valkey, evidence, the admin key); refused while a system runs on it')
    .option('--yes', 'really delete it')
    .option('--json', 'print JSON')
    .action(async (options: { yes?: boolean; json?: boolean }) => {
      const config = loadConfig();
      const dir = config.dataDir;
      if (!existsSync(dir)) return void process.stdout.write(options.json ? `${JSON.stringify({ deleted: false, dataDir: dir })}\n` : `nothing to delete: ${dir} does not exist\n`);
      if (!options.yes) throw new RpaError('VALIDATION_FAILED', `this deletes ${dir} and every job stored in its embedded Postgres; run again with --yes`, { field: 'yes' });
      const lock = await lockDataDir(dir);
      try {
        removeCluster(join(dir, 'postgres'));
        rmSync(dir, { recursive: true, force: true });
      } finally {
        await lock.release();
      }
      process.stdout.write(options.json ? `${JSON.stringify({ deleted: true, dataDir: dir })}\n` : `deleted ${dir}; the next npm start begins afresh\n`);
    });
}
