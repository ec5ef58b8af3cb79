import { expect } from 'chai';
import { verifyCallbackSignature } from '../../src/callbacks/callback-signature.js';
import { findDescriptor } from '../../src/providers/descriptors.js';
import { derivedCircuit, expectedValidation } from '../support/expected-circuit.js';
import { CALLBACK_SECRET, startCallbackReceiver, startSystemHarness, waitForBatchesClosed, waitForJobs, type CallbackReceiver, type SystemHarness } from '../support/system-harness.js';

/** A valid circuit number of `provider` whose digits end in `n` (5–6 digits of `seed` first). */
function circuitFor(provider: string, seed: number): string {
  const digits = String(seed).padStart(8, '0');
  switch (provider) {
    case 'octotel':
      return `OCT${digits.slice(-6)}`;
    case 'openserve':
      return `OSN${digits.slice(-7)}`;
    case 'metrofiber':
      return `MFN-${digits.slice(-8, -4)}-${digits.slice(-4)}`;
    default:
      return `EVO${digits.slice(-6)}`;
  }
}

describe('batches end to end (HTTP → batcher → sandboxed processor → portals → callbacks)', function () {
  this.timeout(600_000);
  let harness: SystemHarness;
  let receiver: CallbackReceiver;
  const providers = ['octotel', 'openserve', 'metrofiber', 'evotel'];

  before(async () => {
    receiver = await startCallbackReceiver();
    harness = await startSystemHarness({ BATCH_SIZE: '50' });
  });
  after(async () => {
    await harness?.close();
    await receiver?.close();
  });

  it('runs 200 jobs over the four providers: results by the contract, one login per batch, signed callbacks, no TOTP refused', async () => {
    const submitted: { id: number; provider: string; action: string; circuit: string }[] = [];
    for (const [p, provider] of providers.entries()) {
      // 30 validations and 20 cancellations per provider; last digits 0–9 cover every derived status.
      const validations = Array.from({ length: 30 }, (_, i) => circuitFor(provider, 10_000 * (p + 1) + 100 + i));
      const cancellations = Array.from({ length: 20 }, (_, i) => circuitFor(provider, 10_000 * (p + 1) + 500 + i));
      for (const [action, circuits] of [['validation', validations], ['cancellation', cancellations]] as const) {
        const res = await harness.api('POST', '/jobs/bulk', { provider, action, callback_url: receiver.url, jobs: circuits.map((circuit_number) => ({ circuit_number })) });
        expect(res.status, JSON.stringify(res.body)).to.equal(202);
        res.body.job_ids.forEach((id: number, i: number) => submitted.push({ id, provider, action, circuit: circuits[i]! }));
      }
    }
    expect(submitted).to.have.length(200);

    const jobs = await waitForJobs(harness, submitted.map((s) => s.id), 540_000);
    for (const s of submitted) {
      const job = jobs.get(s.id);
      expect(job.status, `job ${s.id} ${s.circuit}: ${JSON.stringify(job.error)}`).to.equal('completed');
      if (s.action === 'validation') {
        expect(job.result, s.circuit).to.deep.equal(expectedValidation(s.provider, s.circuit));
      } else {
        const c = derivedCircuit(s.provider, s.circuit);
        const prefix = findDescriptor(s.provider)!.referencePrefix;
        if (!c.found) expect(job.result).to.deep.equal({ found: false, circuit_number: s.circuit, cancelled: false, already_cancelled: false, reference: null });
        else if (c.status === 'cancelled') expect(job.result).to.deep.equal({ found: true, circuit_number: s.circuit, cancelled: true, already_cancelled: true, reference: c.reference });
        else {
          expect(job.result).to.include({ found: true, circuit_number: s.circuit, cancelled: true, already_cancelled: false });
          expect(job.result.reference).to.match(new RegExp(`^${prefix}-CAN-\\d{6}$`));
        }
        if (c.found) expect(job.evidence.length, `evidence of ${s.circuit}`).to.be.greaterThan(0);
      }
    }

    await waitForBatchesClosed(harness, 60_000);
    // One login per batch: the portals' own count equals the number of batches per provider.
    for (const provider of providers) {
      const stats = await harness.portal(provider, 'GET', '/__sandbox/stats');
      const batches = await harness.database.db.selectFrom('batches').select(['id', 'login_count', 'status']).where('provider', '=', provider).execute();
      expect(batches.length, provider).to.be.greaterThan(0);
      expect(stats.logins_ok, `${provider} logins vs batches`).to.equal(batches.length);
      expect(batches.every((b) => b.status === 'completed')).to.equal(true);
      expect(stats.duplicate_cancel_attempts, provider).to.equal(0);
      if (provider === 'octotel') {
        expect(stats.totp_rejected_reused).to.equal(0);
        expect(stats.totp_rejected_invalid).to.equal(0);
      }
    }

    // Every job's callback arrived at least once, signed with the shared secret.
    const deadline = Date.now() + 60_000;
    const seen = () => new Set(receiver.received.map((r) => JSON.parse(r.body).job_id));
    while (seen().size < 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    expect(seen().size).to.equal(200);
    for (const r of receiver.received) {
      expect(verifyCallbackSignature(String(r.headers['x-rpa-signature']), r.body, CALLBACK_SECRET), 'signature').to.equal(true);
      const body = JSON.parse(r.body);
      expect(body).to.have.keys(['job_id', 'status', 'result', 'error', 'batch_id', 'evidence', 'audit_head', 'completed_at']);
      expect(body.status).to.equal('completed');
      expect(body.result).to.deep.equal(jobs.get(body.job_id).result);
    }
    const delivered = await harness.api('GET', `/jobs/${submitted[0]!.id}`);
    expect(delivered.body.callback.state).to.equal('delivered');
  });
});
