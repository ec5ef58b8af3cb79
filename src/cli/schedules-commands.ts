import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import type { JobAction } from '../db/schema.js';
import { RpaError } from '../errors/failures.js';
import { callbackPolicyFromConfig } from '../callbacks/callback-url-guard.js';
import { createSchedule, deleteSchedule, listSchedules, nextRuns } from '../jobs/schedules.js';
import { scheduleView } from '../api/routes/schedules-routes.js';
import { withCliContext } from './cli-context.js';
import { parseAction, parseOneId, parseProvider } from './cli-options.js';
import { formatTable, formatTime } from './cli-table.js';
import { parseCsv } from './csv-file.js';
import { cliActor } from './requeue-output.js';

const COLUMNS = ['circuit_number', 'reason', 'effective_date', 'external_id'] as const;

/** `rpa schedules create|list|delete`: recurring submissions, straight in Postgres and BullMQ. */
export function registerSchedulesCommands(program: Command): void {
  const schedules = program.command('schedules').description('recurring submissions of a list of circuits on a cron expression');

  schedules
    .command('create')
    .description('schedule the circuits of a CSV file (header row with circuit_number) to be submitted on a cron expression')
    .requiredOption('--name <name>', 'a unique name')
    .requiredOption('--cron <expression>', 'cron expression, e.g. "0 6 * * 1-5" (06:00 on weekdays)')
    .option('--tz <zone>', 'time zone of the cron expression', 'UTC')
    .addOption(new Option('--provider <name>', 'provider').argParser(parseProvider).makeOptionMandatory())
    .addOption(new Option('--action <action>', 'validation or cancellation').argParser(parseAction).default('validation'))
    .requiredOption('--file <path>', 'CSV file')
    .option('--callback-url <url>', 'callback URL for every job')
    .option('--actor <name>', 'who, recorded on the schedule (default: cli:<OS user>)')
    .option('--json', 'print JSON')
    .action(async (options: { name: string; cron: string; tz: string; provider: string; action: JobAction; file: string; callbackUrl?: string; actor?: string; json?: boolean }) => {
      let text: string;
      try {
        text = readFileSync(options.file, 'utf8');
      } catch (error) {
        throw new RpaError('VALIDATION_FAILED', `cannot read ${options.file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
      }
      const rows = parseCsv(text);
      if (rows.length === 0 || !('circuit_number' in rows[0]!)) throw new RpaError('VALIDATION_FAILED', `${options.file}: needs a header row with circuit_number and at least one row`);
      const jobs = rows.map((row) => Object.fromEntries(COLUMNS.filter((c) => row[c]).map((c) => [c, row[c]!])));
      await withCliContext({ valkey: true }, async ({ db, queues, config }) => {
        const maintenance = queues!.maintenance();
        const row = await createSchedule(
          db,
          maintenance,
          { name: options.name, cron: options.cron, timezone: options.tz, request: { provider: options.provider, action: options.action, callback_url: options.callbackUrl, jobs }, actor: cliActor(options.actor) },
          callbackPolicyFromConfig(config),
          { minIntervalMs: config.scheduleMinIntervalMs },
        );
        const view = scheduleView(row, (await nextRuns(maintenance)).get(row.id));
        if (options.json) return process.stdout.write(`${JSON.stringify(view)}\n`);
        process.stdout.write(`schedule ${row.id} "${row.name}": ${row.job_count} ${row.action} job(s) for ${row.provider} on "${row.cron}" (${row.timezone}), next run ${formatTime(view.next_run_at)}\n`);
      });
    });

  schedules
    .command('list')
    .description('every schedule with its next and last run')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      await withCliContext({ valkey: true }, async ({ db, queues }) => {
        const [rows, next] = await Promise.all([listSchedules(db), nextRuns(queues!.maintenance())]);
        const views = rows.map((r) => scheduleView(r, next.get(r.id)));
        if (options.json) return process.stdout.write(`${JSON.stringify({ schedules: views })}\n`);
        if (views.length === 0) return process.stdout.write('no schedules\n');
        process.stdout.write(
          formatTable(
            ['schedule', 'name', 'cron', 'tz', 'provider', 'action', 'jobs', 'runs', 'last run', 'next run'],
            views.map((v) => [String(v.schedule_id), v.name, v.cron, v.timezone, v.provider, v.action, String(v.job_count), String(v.runs), formatTime(v.last_run_at), formatTime(v.next_run_at)]),
          ),
        );
      });
    });

  schedules
    .command('delete')
    .description('delete a schedule (jobs it already created stay)')
    .argument('<id>', 'schedule id', parseOneId)
    .option('--json', 'print JSON')
    .action(async (id: string, options: { json?: boolean }) => {
      await withCliContext({ valkey: true }, async ({ db, queues }) => {
        if (!(await deleteSchedule(db, queues!.maintenance(), id))) throw new RpaError('NOT_FOUND', `no schedule ${id}`);
        process.stdout.write(options.json ? `${JSON.stringify({ deleted: Number(id) })}\n` : `deleted schedule ${id}\n`);
      });
    });
}
