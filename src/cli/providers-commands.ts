import type { Command } from 'commander';
import { providerStates, resumeProvider, waitingJobCounts } from '../db/provider-store.js';
import { RpaError } from '../errors/failures.js';
import { providerNames } from '../providers/descriptors.js';
import { withCliContext } from './cli-context.js';
import { formatTable, formatTime } from './cli-table.js';
import { cliActor } from './requeue-output.js';

/** `rpa providers status|resume`: which providers run, which are paused and why, and resuming one. */
export function registerProvidersCommands(program: Command): void {
  const providers = program.command('providers').description('providers: running or paused (and why), resume a paused one');
  providers
    .command('status')
    .description('every provider with its state, the reason it is paused and since when, and its waiting jobs')
    .option('--json', 'print JSON instead of a table')
    .action(async (options: { json?: boolean }) => {
      await withCliContext({}, async ({ db }) => {
        const states = new Map((await providerStates(db)).map((s) => [s.provider, s]));
        const waiting = await waitingJobCounts(db);
        const rows = providerNames().map((name) => {
          const s = states.get(name);
          return {
            provider: name,
            state: s?.paused_reason ? 'paused' : 'running',
            reason: s?.paused_reason ?? null,
            message: s?.paused_message ?? null,
            since: s?.paused_since?.toISOString() ?? null,
            refused_logins: s?.login_refusals ?? 0,
            waiting_jobs: waiting.get(name) ?? 0,
          };
        });
        if (options.json) return void process.stdout.write(`${JSON.stringify({ providers: rows })}\n`);
        process.stdout.write(
          formatTable(
            ['provider', 'state', 'reason', 'since', 'waiting', 'refused logins'],
            rows.map((r) => [r.provider, r.state, r.reason ?? '-', r.since ? formatTime(new Date(r.since)) : '-', String(r.waiting_jobs), String(r.refused_logins)]),
          ),
        );
        for (const r of rows.filter((x) => x.message)) process.stdout.write(`${r.provider}: ${r.message}\n`);
      });
    });
  providers
    .command('resume <provider>')
    .description('resume a paused provider (after fixing its credentials, its URL or the portal); its waiting jobs run')
    .option('--actor <name>', 'who resumes it (default: the OS user)')
    .option('--json', 'print JSON')
    .action(async (provider: string, options: { actor?: string; json?: boolean }) => {
      if (!providerNames().includes(provider)) throw new RpaError('VALIDATION_FAILED', `unknown provider "${provider}" (known: ${providerNames().join(', ')})`, { field: 'provider' });
      await withCliContext({}, async ({ db }) => {
        const resumed = await resumeProvider(db, provider, cliActor(options.actor), 'resumed from the CLI');
        process.stdout.write(options.json ? `${JSON.stringify({ provider, resumed })}\n` : resumed ? `${provider}: resumed\n` : `${provider}: was not paused\n`);
      });
    });
}
