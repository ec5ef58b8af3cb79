import { Command, InvalidArgumentError, Option } from 'commander';
import { jobIdsOfBatch } from '../db/audit-store.js';
import { RpaError } from '../errors/failures.js';
import { createEvidenceStore } from '../evidence/evidence-store-factory.js';
import { verifyJob, type JobVerification } from '../evidence/evidence-verifier.js';
import { withCliContext } from './cli-context.js';
import { parseOneId } from './cli-options.js';

const print = (text: string) => process.stdout.write(text);

function parseHead(value: string): string {
  if (!/^[0-9a-f]{64}$/.test(value)) throw new InvalidArgumentError('expected 64 hex digits (the audit_head of a callback)');
  return value;
}

/** `rpa evidence verify <job> | --batch <id>`: recomputes audit chains from what is stored. */
export function registerEvidenceCommands(program: Command): void {
  const evidence = program.command('evidence').description("jobs' evidence and their tamper-evident audit trail");
  evidence
    .command('verify')
    .description('recompute the audit chain of a job (or of every job of a batch) from its events, evidence rows and stored objects; exits 0 when intact, 1 naming what does not match')
    .argument('[job]', 'job id', parseOneId)
    .addOption(new Option('--batch <id>', 'every job that was in this batch').argParser(parseOneId))
    .addOption(new Option('--head <hex>', 'also check the chain ends at this head (the audit_head ORDS received)').argParser(parseHead))
    .option('--json', 'print JSON')
    .action(async (job: string | undefined, options: { batch?: string; head?: string; json?: boolean }) => {
      if ((job === undefined) === (options.batch === undefined)) throw new RpaError('VALIDATION_FAILED', 'give a job id or --batch <id> (one of them)');
      await withCliContext({}, async ({ db, config }) => {
        const store = createEvidenceStore(config);
        try {
          const ids = job !== undefined ? [job] : await jobIdsOfBatch(db, options.batch!);
          if (ids.length === 0) throw new RpaError('NOT_FOUND', `batch ${options.batch} has no jobs`);
          const results: JobVerification[] = [];
          for (const id of ids) results.push(await verifyJob(db, store, id, { expectHead: job !== undefined ? options.head : undefined }));
          if (options.json) print(`${JSON.stringify({ jobs: results })}\n`);
          else for (const r of results) print(formatVerification(r));
          const broken = results.filter((r) => !r.intact);
          if (broken.length > 0) {
            const first = broken[0]!;
            throw new RpaError('AUDIT_MISMATCH', `${broken.length} of ${results.length} job(s) do not match their audit chain; job ${first.jobId}: ${first.problems[0]!.item} ${first.problems[0]!.reason}`);
          }
        } finally {
          await store.close();
        }
      });
    });
}

function formatVerification(r: JobVerification): string {
  if (r.intact) return `job ${r.jobId}: intact (${r.entries} entries, head ${r.head ?? 'none'})\n`;
  return [`job ${r.jobId}: DOES NOT MATCH its audit chain (${r.entries} entries)`, ...r.problems.map((p) => `  ${p.item}: ${p.reason}`)].join('\n') + '\n';
}
