import { expect } from 'chai';
import { startSystemHarness, waitForJobs, type SystemHarness } from '../support/system-harness.js';

const PROVIDERS = { evotel: ['EVO810011', 'EVO810022', 'EVO810033', 'EVO810044'], openserve: ['OSN8100011', 'OSN8100022', 'OSN8100033', 'OSN8100044'] } as const;

/**
 * A cancel submit whose answer is lost after the portal processed it (the connection cut, or a
 * 503): the job reads the circuit until the outcome is certain, submits nothing again, and ends
 * completed with the portal's reference. The intent log shows each submit and how it ended.
 */
describe('a cancel submit whose answer is lost after the portal processed it', function () {
  this.timeout(300_000);
  let harness: SystemHarness;
  before(async () => {
    harness = await startSystemHarness({ BATCH_SIZE: '4' });
  });
  after(async () => harness?.close());

  for (const as of ['reset', '503'] as const) {
    it(`(${as}) cancels each circuit once and completes the job with the reference`, async () => {
      const ids: number[] = [];
      for (const [provider, list] of Object.entries(PROVIDERS)) {
        await harness.portal(provider, 'POST', '/__sandbox/reset');
        // Every answer to a processed cancellation is lost, as if the network dropped it.
        expect((await harness.portal(provider, 'POST', '/__sandbox/faults', { lose_cancel_answers: list.length, as })).lose_cancel_answers).to.equal(list.length);
        const res = await harness.api('POST', '/jobs/bulk', { provider, action: 'cancellation', jobs: list.map((circuit_number) => ({ circuit_number })) });
        expect(res.status).to.equal(202);
        ids.push(...res.body.job_ids);
      }
      const jobs = await waitForJobs(harness, ids, 240_000);
      for (const job of jobs.values()) {
        expect(job.status, JSON.stringify(job.error)).to.equal('completed');
        expect(job.result).to.include({ cancelled: true, already_cancelled: false });
        expect(job.result.reference).to.match(/^[A-Z]+-CAN-\d{6}$/);
      }
      for (const [provider, list] of Object.entries(PROVIDERS)) {
        const stats = await harness.portal(provider, 'GET', '/__sandbox/stats');
        expect(stats.duplicate_cancel_attempts, provider).to.equal(0);
        for (const c of list) expect(stats.cancellations[c], c).to.equal(1);
        const faults = await harness.portal(provider, 'GET', '/__sandbox/faults');
        expect(faults.lose_cancel_answers, `${provider}: every answer was lost`).to.equal(0);
      }
      // Each job's one submit: recorded before, found unclear, settled by a read of the circuit.
      const intents = await harness.database.db.selectFrom('cancellation_intents').select(['job_id', 'state', 'reference']).where('job_id', 'in', ids.map(String)).orderBy('id').execute();
      expect(intents).to.have.length(ids.length);
      for (const intent of intents) {
        expect(intent.state).to.equal('resolved');
        expect(intent.reference).to.equal(jobs.get(Number(intent.job_id)).result.reference);
      }
    });
  }
});
