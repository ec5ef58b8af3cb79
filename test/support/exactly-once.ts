import { expect } from 'chai';
import type { Db } from '../../src/db/database.js';
import { waitForJobs, type SystemHarness } from './system-harness.js';
import { until } from './worker-process.js';

/** A cancellable circuit of the practice portals (Octotel or Evotel): `wave` and `i` make it unique. */
export function cancellableCircuit(provider: 'octotel' | 'evotel', wave: number, i: number): string {
  return `${provider === 'octotel' ? 'OCT' : 'EVO'}${wave}${String(i).padStart(4, '0')}${(i % 6) + 1}`;
}

/** Submits one cancellation per circuit; the ids of the jobs accepted (202). */
export async function submitCancellations(harness: SystemHarness, provider: string, circuits: string[]): Promise<{ ids: number[]; status: number }> {
  const res = await harness.api('POST', '/jobs/bulk', { provider, action: 'cancellation', jobs: circuits.map((circuit_number) => ({ circuit_number })) });
  return { ids: res.status === 202 ? res.body.job_ids : [], status: res.status };
}

/** Every one of `ids` has exactly one terminal event (completed, failed or cancelled): it ended, and once. */
export async function expectOneEndEach(db: Db, ids: number[]): Promise<void> {
  const terminal = await db
    .selectFrom('job_events')
    .select(['job_id', (eb) => eb.fn.countAll<number>().as('n')])
    .where('job_id', 'in', ids.map(String))
    .where('to_status', 'in', ['completed', 'failed', 'cancelled'])
    .groupBy('job_id')
    .execute();
  expect(terminal, 'jobs with a terminal event').to.have.length(ids.length);
  for (const row of terminal) expect(Number(row.n), `terminal events of job ${row.job_id}`).to.equal(1);
}

/**
 * Every job ended once: completed with its circuit cancelled by this job, one terminal event each
 * in Postgres; each portal saw each circuit's cancel form once and refused no TOTP step as reused;
 * no batch is left open.
 */
export async function expectEveryCancellationOnce(harness: SystemHarness, ids: number[], circuits: Record<string, string[]>, timeoutMs: number): Promise<void> {
  const jobs = await waitForJobs(harness, ids, timeoutMs);
  for (const [id, job] of jobs) {
    expect(job.status, `job ${id}: ${JSON.stringify(job.error)}`).to.equal('completed');
    expect(job.result, `job ${id}`).to.include({ cancelled: true, already_cancelled: false });
  }
  await expectOneEndEach(harness.database.db, ids);
  for (const [provider, list] of Object.entries(circuits)) {
    const stats = await harness.portal(provider, 'GET', '/__sandbox/stats');
    expect(stats.duplicate_cancel_attempts, `${provider}: cancel forms sent twice`).to.equal(0);
    expect(stats.totp_rejected_reused, `${provider}: TOTP steps refused as reused`).to.equal(0);
    for (const circuit of list) expect(stats.cancellations[circuit], `${provider} cancellations of ${circuit}`).to.equal(1);
  }
  await until(
    async () => (await harness.database.db.selectFrom('batches').select('id').where('status', 'in', ['created', 'assigned', 'in_progress']).execute()).length === 0,
    120_000,
    'no batch left in progress',
  );
}
