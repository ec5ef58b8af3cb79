import type { Command } from 'commander';
import { failuresMarkdown } from '../errors/failure-table-doc.js';
import { ERROR_CODES, policyOf } from '../errors/failures.js';

/** `rpa failures [--markdown|--json]`: every error code, whether it is retried, how far, and what it means. */
export function registerFailuresCommand(program: Command): void {
  program
    .command('failures')
    .description('every error code a job, a request or a batch can end with: retried or not, how far a retry reaches, what it means')
    .option('--markdown', 'print the table docs/architecture.md carries')
    .option('--json', 'print JSON')
    .action((options: { markdown?: boolean; json?: boolean }) => {
      if (options.markdown) return void process.stdout.write(`${failuresMarkdown()}\n`);
      const rows = ERROR_CODES.map((code) => ({ code, ...policyOf(code) }));
      if (options.json) return void process.stdout.write(`${JSON.stringify(rows)}\n`);
      const width = Math.max(...ERROR_CODES.map((c) => c.length));
      process.stdout.write(rows.map((r) => `${r.code.padEnd(width)}  ${r.retryable ? 'retried' : 'final  '}  ${r.scope.padEnd(8)}  ${r.meaning}`).join('\n') + '\n');
    });
}
