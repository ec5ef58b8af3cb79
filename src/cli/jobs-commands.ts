import { Command, Option } from 'commander';
import { listJobEvents } from '../db/event-store.js';
import { findJob, listJobs } from '../db/job-store.js';
import type { JobAction, JobStatus } from '../db/schema.js';
import { RpaError } from '../errors/failures.js';
import { requeueJobs } from '../db/job-requeue.js';
import { withCliContext } from './cli-context.js';
import { parseAction, parseId, parseJobStatus, parseLimit, parseOneId, parseProvider, parseSince } from './cli-options.js';
import { formatTable, formatTime } from './cli-table.js';
import { cliActor, formatRequeue } from './requeue-output.js';

const print = (text: string) => process.stdout.write(text);
const json = (value: unknown) => print(`${JSON.stringify(value)}\n`);

/** `rpa jobs list|show|requeue`: jobs straight from Postgres. */
export function registerJobsCommands(program: Command): void {
  const jobs = program.command('jobs').description('jobs (one circuit, one action each)');

  jobs
    .command('list')
    .description('newest jobs first')
    .addOption(new Option('--status <status>', 'only jobs in this status').argParser(parseJobStatus))
    .addOption(new Option('--provider <name>', 'only this provider').argParser(parseProvider))
    .addOption(new Option('--action <action>', 'only this action').argParser(parseAction))
    .addOption(new Option('--batch <id>', 'only jobs currently in this batch').argParser(parseOneId))
    .addOption(new Option('--since <when>', 'submitted since (30m, 2h, 7d or an ISO date)').argParser((v) => parseSince(v)))
    .addOption(new Option('--limit <n>', 'at most this many').argParser(parseLimit).default(50))
    .option('--json', 'print JSON instead of a table')
    .action(async (options: { status?: JobStatus; provider?: string; action?: JobAction; batch?: string; since?: Date; limit: number; json?: boolean }) => {
      await withCliContext({}, async ({ db }) => {
        const rows = await listJobs(db, { status: options.status, provider: options.provider, action: options.action, batchId: options.batch, since: options.since, limit: options.limit });
        if (options.json) return json({ jobs: rows });
        if (rows.length === 0) return print('no jobs\n');
        print(
          formatTable(
            ['job', 'provider', 'action', 'circuit', 'status', 'attempts', 'batch', 'submitted', 'error'],
            rows.map((j) => [j.id, j.provider, j.action, j.circuit_number, j.status, `${j.attempts}/${j.max_attempts}`, j.batch_id ?? '-', formatTime(j.created_at), j.error ? j.error.code : '']),
          ),
        );
      });
    });

  jobs
    .command('show')
    .description('one job, its result or error, and its event log')
    .argument('<id>', 'job id', parseOneId)
    .option('--json', 'print JSON')
    .action(async (id: string, options: { json?: boolean }) => {
      await withCliContext({}, async ({ db }) => {
        const job = await findJob(db, id);
        if (!job) throw new RpaError('NOT_FOUND', `no job ${id}`);
        const events = await listJobEvents(db, id);
        if (options.json) return json({ job, events });
        const lines = [
          `job ${job.id}  ${job.provider}  ${job.action}  ${job.circuit_number}  ${job.status}  attempts ${job.attempts}/${job.max_attempts}  batch ${job.batch_id ?? '-'}`,
          `submitted ${formatTime(job.created_at)}  started ${formatTime(job.started_at)}  finished ${formatTime(job.completed_at)}${job.external_id ? `  external id ${job.external_id}` : ''}`,
        ];
        if (job.result) lines.push(`result ${JSON.stringify(job.result)}`);
        if (job.error) lines.push(`error ${job.error.code}: ${job.error.message}`);
        print(lines.join('\n') + '\n');
        print(formatTable(['at', 'from', 'to', 'actor', 'cause'], events.map((e) => [formatTime(e.at), e.from_status ?? '-', e.to_status, e.actor, e.cause])));
      });
    });

  jobs
    .command('requeue')
    .description('put failed jobs (and unfinished jobs of an ended batch) back to be batched again; never a completed job; safe to run twice')
    .argument('<ids...>', 'job ids', parseId)
    .option('--dry-run', 'show what would be requeued and change nothing')
    .option('--reason <text>', 'why, written to each job\'s event log', 'manual requeue')
    .option('--actor <name>', 'who, written to the event log (default: cli:<OS user>)')
    .option('--json', 'print JSON')
    .action(async (ids: string[], options: { dryRun?: boolean; reason: string; actor?: string; json?: boolean }) => {
      await withCliContext({ valkey: !options.dryRun }, async ({ db, enqueuer }) => {
        const result = await requeueJobs(db, ids, { actor: cliActor(options.actor), reason: options.reason, dryRun: options.dryRun });
        const enqueued = enqueuer ? await enqueuer.tryEnqueue(result.dryRun ? [] : result.requeued.map((r) => ({ id: r.id, provider: r.provider, trip: r.trip }))) : false;
        if (options.json) return json({ ...result, enqueued });
        print(formatRequeue(result, enqueued));
      });
    });
}
