import { userInfo } from 'node:os';
import type { RequeueResult } from '../db/job-requeue.js';
import { formatTable } from './cli-table.js';

/** The actor recorded for a CLI requeue: `--actor`, else `cli:<OS user>`. */
export function cliActor(actor: string | undefined): string {
  if (actor) return actor;
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli:unknown';
  }
}

/** What a requeue did (or would do, on a dry run), for people. */
export function formatRequeue(result: RequeueResult, enqueued: boolean): string {
  const verb = result.dryRun ? 'would requeue' : 'requeued';
  const lines = [`${verb} ${result.requeued.length} job(s)${result.skipped.length ? `, left ${result.skipped.length} alone` : ''}${result.dryRun ? ' (dry run: nothing changed)' : ''}`];
  if (result.requeued.length > 0) {
    lines.push(formatTable(['job', 'provider', 'was', 'batch'], result.requeued.map((r) => [r.id, r.provider, r.from, r.batchId ?? '-'])).trimEnd());
  }
  if (result.skipped.length > 0) {
    lines.push(formatTable(['left alone', 'status', 'why'], result.skipped.map((s) => [s.id, s.status, s.why])).trimEnd());
  }
  if (!result.dryRun && result.requeued.length > 0 && !enqueued) {
    lines.push('Valkey did not take them now: they wait in Postgres and the sweeper enqueues them');
  }
  return lines.join('\n') + '\n';
}
