import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { CRASHING_CIRCUIT } from '../fixtures/crashing-batch-processor.js';
import { startSystemHarness, waitForJobs, type SystemHarness } from '../support/system-harness.js';
import { until } from '../support/worker-process.js';

const CRASHING_PROCESSOR = fileURLToPath(new URL('../fixtures/crashing-batch-processor.js', import.meta.url));

/** Terminal events of a job: exactly one each (a job ends once). */
async function terminalEvents(harness: SystemHarness, jobId: number): Promise<number> {
  const events = (await harness.api('GET', `/jobs/${jobId}/events`)).body.events as { to_status: string }[];
  return events.filter((e) => ['completed', 'failed', 'cancelled'].includes(e.to_status)).length;
}

describe('exactly once: one circuit, one runner; loops that end', function () {
  this.timeout(300_000);

  describe('two jobs for one circuit at once', () => {
    let harness: SystemHarness;
    before(async () => {
      // One job a batch and two sessions: the two jobs run in two batches that log in side by side.
      harness = await startSystemHarness({ EVOTEL_MAX_SESSIONS: '2', BATCH_SIZE: '1', BATCH_MAX_WAIT_MS: '0' });
      await harness.portal('evotel', 'POST', '/__sandbox/config', { latency_ms: 300 });
    });
    after(async () => harness?.close());

    it('never run together: one cancellation on the portal, the other job waits and answers already cancelled without a submit', async () => {
      const circuit = 'EVO510012';
      // An ORDS retry without an Idempotency-Key: two jobs for the same circuit at once.
      const answers = await Promise.all([0, 1].map(() => harness.api('POST', '/jobs', { provider: 'evotel', action: 'cancellation', circuit_number: circuit })));
      for (const a of answers) expect(a.status).to.equal(202);
      const ids = answers.map((a) => a.body.job_id as number);
      const jobs = [...(await waitForJobs(harness, ids, 180_000)).values()];
      for (const job of jobs) {
        expect(job.status, JSON.stringify(job.error)).to.equal('completed');
        expect(job.result.cancelled).to.equal(true);
      }
      // Consistent: one cancelled it, the other found it cancelled; one reference.
      expect(jobs.map((j) => j.result.already_cancelled).sort()).to.deep.equal([false, true]);
      expect(jobs[0].result.reference).to.equal(jobs[1].result.reference);
      const stats = await harness.portal('evotel', 'GET', '/__sandbox/stats');
      expect(stats.cancellations[circuit]).to.equal(1);
      expect(stats.duplicate_cancel_attempts).to.equal(0);
      // One of them waited for the other: it was handed back while the circuit was busy.
      const waited = await Promise.all(ids.map(async (id) => ((await harness.api('GET', `/jobs/${id}/events`)).body.events as { cause: string }[]).some((e) => e.cause.includes('another job is working on this circuit'))));
      expect(waited.filter(Boolean)).to.have.length(1);
      for (const id of ids) expect(await terminalEvents(harness, id)).to.equal(1);
    });
  });

  describe('a processor that crashes on one job', () => {
    let harness: SystemHarness;
    before(async () => {
      harness = await startSystemHarness({ JOB_MAX_ATTEMPTS: '3', BATCH_SIZE: '4', EVOTEL_MAX_SESSIONS: '1' }, { processorFile: CRASHING_PROCESSOR });
    });
    after(async () => harness?.close());

    it('fails that job with PROCESSOR_CRASHED at JOB_MAX_ATTEMPTS; the others complete; nothing loops', async () => {
      const circuits = ['EVO400021', CRASHING_CIRCUIT, 'EVO400032', 'EVO400043'];
      const res = await harness.api('POST', '/jobs/bulk', { provider: 'evotel', action: 'validation', jobs: circuits.map((circuit_number) => ({ circuit_number })) });
      expect(res.status).to.equal(202);
      const ids: number[] = res.body.job_ids;
      const jobs = await waitForJobs(harness, ids, 240_000);
      const crashed = jobs.get(ids[1]!);
      expect(crashed.status).to.equal('failed');
      expect(crashed.error.code).to.equal('PROCESSOR_CRASHED');
      expect(crashed.attempts).to.equal(3);
      for (const id of [ids[0]!, ids[2]!, ids[3]!]) {
        const job = jobs.get(id);
        expect(job.status, JSON.stringify(job.error)).to.equal('completed');
        expect(job.result.found).to.equal(true);
      }
      for (const id of ids) expect(await terminalEvents(harness, id)).to.equal(1);
      await until(
        async () => (await harness.database.db.selectFrom('batches').select('id').where('status', 'in', ['created', 'assigned', 'in_progress']).execute()).length === 0,
        60_000,
        'every batch closed',
      );
    });
  });
});
