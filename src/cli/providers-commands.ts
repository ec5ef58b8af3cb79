import type { Command } from 'commander';
import { windowsFromJson, windowsToJson } from '../calendar/provider-windows.js';
import { storeWindows } from '../db/provider-store.js';
import { RpaError } from '../errors/failures.js';
import { closedBreaker } from '../processors/login-circuit-breaker.js';
import { ProviderCalendar } from '../processors/provider-calendar.js';
import { providerHealth } from '../processors/provider-health.js';
import { resumeChecked } from '../processors/provider-resume.js';
import { providerNames } from '../providers/descriptors.js';
import { requestCanary } from '../queues/canary-requests.js';
import { silentLogger } from '../logger.js';
import { withCliContext } from './cli-context.js';
import { formatTable, formatTime } from './cli-table.js';
import { cliActor } from './requeue-output.js';

const known = (provider: string): string => {
  if (!providerNames().includes(provider)) throw new RpaError('VALIDATION_FAILED', `unknown provider "${provider}" (known: ${providerNames().join(', ')})`, { field: 'provider' });
  return provider;
};

/** `rpa providers status|resume|windows`: which providers run, which are paused or closed and why; resuming one; its windows. */
export function registerProvidersCommands(program: Command): void {
  const providers = program.command('providers').description('providers: running, paused or closed (and why); resume a paused one; maintenance windows');
  providers
    .command('status')
    .description('every provider with its state, why it is paused or closed and since or until when, and its waiting jobs')
    .option('--json', 'print JSON instead of a table')
    .action(async (options: { json?: boolean }) => {
      await withCliContext({}, async ({ db, config }) => {
        // From Postgres alone: a login breaker's cool-down (in Valkey) shows in /health.
        const health = await providerHealth(db, providerNames().map(closedBreaker), new ProviderCalendar(db, config.providers, silentLogger));
        const rows = Object.entries(health).map(([provider, h]) => ({ provider, ...h, reason: h.reason ?? null, since: h.since ?? null, until: h.until ?? null }));
        if (options.json) return void process.stdout.write(`${JSON.stringify({ providers: rows })}\n`);
        process.stdout.write(
          formatTable(
            ['provider', 'state', 'reason', 'since', 'until', 'waiting', 'refused logins', 'mismatches'],
            rows.map((r) => [r.provider, r.state, r.reason ?? '-', formatTime(r.since), formatTime(r.until), String(r.waiting_jobs), String(r.refused_logins), String(r.contract_mismatches)]),
          ),
        );
        for (const r of rows) if (r.message) process.stdout.write(`${r.provider}: ${r.message}\n`);
      });
    });
  providers
    .command('resume <provider>')
    .description('resume a paused provider (after fixing its credentials, its URL or its automation); one paused for contract drift is checked by the canary first')
    .option('--force', 'resume a provider paused for contract drift without the canary')
    .option('--actor <name>', 'who resumes it (default: the OS user)')
    .option('--json', 'print JSON')
    .action(async (provider: string, options: { actor?: string; json?: boolean; force?: boolean }) => {
      known(provider);
      await withCliContext({}, async ({ db }) => {
        // Valkey only for the canary (a pause for contract drift): a worker runs it.
        const canary = (p: string) => withCliContext({ valkey: true }, ({ queues }) => requestCanary(queues!, p));
        const outcome = await resumeChecked(db, { provider, actor: cliActor(options.actor), via: 'the CLI', force: options.force, canary });
        if (options.json) return void process.stdout.write(`${JSON.stringify(outcome)}\n`);
        if (!outcome.was) return void process.stdout.write(`${provider}: was not paused\n`);
        const checked = outcome.canary?.ok ? ' (the canary found its pages matching the contract)' : '';
        process.stdout.write(`${provider}: resumed${checked}; it was paused for ${outcome.was.reason} since ${formatTime(outcome.was.since)}\n`);
      });
    });
  providers
    .command('windows <provider>')
    .description('its maintenance windows and business hours (the configured ones, or an operator\'s)')
    .option('--set <json>', 'replace them: {"time_zone":…,"business_hours":"mon-fri 07:00-19:00","maintenance":[{"cron":"0 2 * * sun","duration":"2h"},{"starts_at":…,"ends_at":…}]}')
    .option('--clear', 'forget the operator\'s windows: the configured ones apply again')
    .option('--actor <name>', 'who sets them (default: the OS user)')
    .option('--json', 'print JSON')
    .action(async (provider: string, options: { set?: string; clear?: boolean; actor?: string; json?: boolean }) => {
      known(provider);
      await withCliContext({}, async ({ db, config }) => {
        if (options.set !== undefined) {
          let body: unknown;
          try {
            body = JSON.parse(options.set);
          } catch {
            throw new RpaError('VALIDATION_FAILED', '--set: must be JSON', { field: '--set' });
          }
          await storeWindows(db, provider, { ...windowsToJson(windowsFromJson(body, config.providers[provider]!.windows.timeZone)) }, cliActor(options.actor));
        } else if (options.clear) {
          await storeWindows(db, provider, null, cliActor(options.actor));
        }
        const calendar = new ProviderCalendar(db, config.providers, silentLogger);
        const { windows, source } = await calendar.windows(provider);
        const shown = { provider, source, ...windowsToJson(windows), now: await calendar.state(provider) };
        if (options.json) return void process.stdout.write(`${JSON.stringify(shown)}\n`);
        const now = shown.now.open
          ? `open${shown.now.closesAt ? ` until ${formatTime(shown.now.closesAt)} (${shown.now.closesFor})` : ''}`
          : `closed (${shown.now.reason}${shown.now.label ? `: ${shown.now.label}` : ''}) until ${formatTime(shown.now.until)}`;
        const maintenance = shown.maintenance.map((m) => ('cron' in m ? `${m.cron} for ${m.duration}` : `${m.starts_at} to ${m.ends_at}`) + (m.label ? ` (${m.label})` : ''));
        process.stdout.write(
          `${provider}: ${now}\n  windows: ${source}, time zone ${shown.time_zone}\n  business hours: ${shown.business_hours ?? 'always'}\n  maintenance: ${maintenance.join('; ') || 'none'}\n`,
        );
      });
    });
}
