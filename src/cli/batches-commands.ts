import { Command, Option } from 'commander';
import { batchProgress, findBatch, findBatchMembers, listBatches } from '../db/batch-store.js';
import type { BatchStatus } from '../db/schema.js';
import { RpaError } from '../errors/failures.js';
import { batchRequeueCandidates, findFailedBatchIds, requeueJobs, type RequeueResult } from '../db/job-requeue.js';
import { withCliContext } from './cli-context.js';
import { parseBatchStatus, parseId, parseLimit, parseOneId, parseProvider, parseSince } from './cli-options.js';
import { formatTable, formatTime } from './cli-table.js';
import { cliActor, formatRequeue } from './requeue-output.js';

const print = (text: string) => process.stdout.write(text);
const json = (value: unknown) => print(`${JSON.stringify(value)}\n`);

/** `rpa batches list|show|requeue`: batches straight from Postgres, for the people on call. */
export function registerBatchesCommands(program: Command): void {
  const batches = program.command('batches').description('batches of jobs run in one browser session');

  batches
    .command('list')
    .description('newest batches first: id, provider, status, progress, failed jobs, started, error')
    .addOption(new Option('--status <status>', 'only batches in this status').argParser(parseBatchStatus))
    .addOption(new Option('--provider <name>', 'only this provider').argParser(parseProvider))
    .addOption(new Option('--since <when>', 'created since (30m, 2h, 7d or an ISO date)').argParser((v) => parseSince(v)))
    .addOption(new Option('--limit <n>', 'at most this many').argParser(parseLimit).default(50))
    .option('--json', 'print JSON instead of a table')
    .action(async (options: { status?: BatchStatus; provider?: string; since?: Date; limit: number; json?: boolean }) => {
      await withCliContext({}, async ({ db }) => {
        const rows = await listBatches(db, { status: options.status, provider: options.provider, since: options.since, limit: options.limit });
        if (options.json) return json({ batches: rows });
        if (rows.length === 0) return print('no batches\n');
        print(
          formatTable(
            ['batch', 'provider', 'status', 'progress', 'failed', 'started', 'error'],
            rows.map((b) => [b.id, b.provider, b.status, batchProgress(b), String(b.failed_count), formatTime(b.started_at), b.error ? `${b.error.code}: ${b.error.message}`.slice(0, 80) : '']),
          ),
        );
      });
    });

  batches
    .command('show')
    .description('one batch and its jobs')
    .argument('<id>', 'batch id', parseOneId)
    .option('--json', 'print JSON')
    .action(async (id: string, options: { json?: boolean }) => {
      await withCliContext({}, async ({ db }) => {
        const batch = await findBatch(db, id);
        if (!batch) throw new RpaError('NOT_FOUND', `no batch ${id}`);
        const members = await findBatchMembers(db, id);
        if (options.json) return json({ batch, jobs: members });
        const lines = [
          `batch ${batch.id}  ${batch.provider}  ${batch.status}  progress ${batchProgress(batch)}  completed ${batch.completed_count}  failed ${batch.failed_count}  returned ${batch.returned_count}  logins ${batch.login_count}`,
          `created ${formatTime(batch.created_at)}  started ${formatTime(batch.started_at)}  finished ${formatTime(batch.finished_at)}  worker ${batch.worker ?? '-'}`,
        ];
        if (batch.error) lines.push(`error ${batch.error.code}: ${batch.error.message}`);
        print(lines.join('\n') + '\n');
        print(
          formatTable(
            ['#', 'job', 'action', 'circuit', 'status', 'attempts', 'still in batch', 'error'],
            members.map((m) => [String(m.position), m.id, m.action, m.circuit_number, m.status, String(m.attempts), m.batch_id === id ? 'yes' : 'no', m.error ? m.error.code : '']),
          ),
        );
      });
    });

  batches
    .command('requeue')
    .description('put the failed and unfinished jobs of batches back to be batched again (never a completed job); safe to run twice')
    .argument('[ids...]', 'batch ids', parseId)
    .option('--failed', 'every failed batch (narrow with --provider and --since)')
    .addOption(new Option('--provider <name>', 'with --failed: only this provider').argParser(parseProvider))
    .addOption(new Option('--since <when>', 'with --failed: batches created since (30m, 2h, 7d or an ISO date)').argParser((v) => parseSince(v)))
    .option('--dry-run', 'show what would be requeued and change nothing')
    .option('--reason <text>', 'why, written to each job\'s event log', 'manual requeue')
    .option('--actor <name>', 'who, written to the event log (default: cli:<OS user>)')
    .option('--json', 'print JSON')
    .action(async (ids: string[] | undefined, options: { failed?: boolean; provider?: string; since?: Date; dryRun?: boolean; reason: string; actor?: string; json?: boolean }) => {
      const batchIds = ids ?? [];
      if (options.failed && batchIds.length > 0) throw new RpaError('VALIDATION_FAILED', 'give batch ids or --failed, not both');
      if (!options.failed && batchIds.length === 0) throw new RpaError('VALIDATION_FAILED', 'give one or more batch ids, or --failed');
      if (!options.failed && (options.provider || options.since)) throw new RpaError('VALIDATION_FAILED', '--provider and --since go with --failed');
      await withCliContext({ valkey: !options.dryRun }, async ({ db, enqueuer }) => {
        let targets = batchIds;
        if (options.failed) {
          targets = await findFailedBatchIds(db, { provider: options.provider, since: options.since });
        } else {
          for (const id of targets) if (!(await findBatch(db, id))) throw new RpaError('NOT_FOUND', `no batch ${id} (nothing requeued)`);
        }
        const jobIds = await batchRequeueCandidates(db, targets);
        const result: RequeueResult = await requeueJobs(db, jobIds, { actor: cliActor(options.actor), reason: options.reason, dryRun: options.dryRun });
        const enqueued = enqueuer ? await enqueuer.tryEnqueue(result.dryRun ? [] : result.requeued.map((r) => ({ id: r.id, provider: r.provider, trip: r.trip }))) : false;
        if (options.json) return json({ batches: targets, ...result, enqueued });
        print(`${targets.length} batch(es): ${targets.join(', ') || '-'}\n`);
        print(formatRequeue(result, enqueued));
      });
    });
}
