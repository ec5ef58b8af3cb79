import { expect } from 'chai';
import { valkeySettingsFor } from '../../src/config/valkey-endpoint.js';
import { expectedValidation } from '../support/expected-circuit.js';
import { cancellableCircuit, expectEveryCancellationOnce, submitCancellations } from '../support/exactly-once.js';
import { startCallbackReceiver, startSystemHarness, waitForJobs, type CallbackReceiver, type SystemHarness } from '../support/system-harness.js';
import { startValkeyCluster, type ValkeyCluster } from '../support/valkey-cluster.js';
import { until } from '../support/worker-process.js';

const VALIDATIONS: Record<string, string[]> = {
  openserve: ['OSN7100011', 'OSN7100022', 'OSN7100037', 'OSN7100040'],
  metrofiber: ['MFN-7100-0011', 'MFN-7100-0022', 'MFN-7100-0038', 'MFN-7100-0049'],
  octotel: ['OCT710011', 'OCT710022', 'OCT710038'],
};

/**
 * The whole system on a three-master Valkey Cluster: the four providers' batches (an Octotel one
 * with its TOTP step), signed callbacks, and every key the system wrote carries a hash tag, so
 * each queue's keys, the TOTP steps and the fleet's keys each live in one slot.
 */
describe('the system on a Valkey Cluster (three masters)', function () {
  this.timeout(360_000);
  let cluster: ValkeyCluster;
  let harness: SystemHarness;
  let receiver: CallbackReceiver;

  before(async () => {
    cluster = await startValkeyCluster();
    receiver = await startCallbackReceiver();
    harness = await startSystemHarness({ ...valkeySettingsFor(cluster.endpoint), BATCH_SIZE: '10' });
  });
  after(async () => {
    await harness?.close();
    await receiver?.close();
    await cluster?.stop();
  });

  it('runs a full batch per provider (Octotel with TOTP): every job completes once, callbacks delivered, every key hash-tagged', async () => {
    const ids: number[] = [];
    const expected = new Map<number, Record<string, unknown>>();
    for (const [provider, circuits] of Object.entries(VALIDATIONS)) {
      const res = await harness.api('POST', '/jobs/bulk', { provider, action: 'validation', callback_url: receiver.url, jobs: circuits.map((circuit_number) => ({ circuit_number })) });
      expect(res.status, JSON.stringify(res.body)).to.equal(202);
      res.body.job_ids.forEach((id: number, i: number) => expected.set(id, expectedValidation(provider, circuits[i]!)));
      ids.push(...res.body.job_ids);
    }
    const cancellations = { octotel: [0, 1, 2].map((i) => cancellableCircuit('octotel', 7, i)), evotel: [0, 1, 2, 3, 4].map((i) => cancellableCircuit('evotel', 7, i)) };
    const cancelIds: number[] = [];
    for (const [provider, circuits] of Object.entries(cancellations)) {
      const { ids: accepted, status } = await submitCancellations(harness, provider, circuits);
      expect(status).to.equal(202);
      cancelIds.push(...accepted);
    }

    const jobs = await waitForJobs(harness, ids, 240_000);
    for (const [id, job] of jobs) {
      expect(job.status, `job ${id}: ${JSON.stringify(job.error)}`).to.equal('completed');
      expect(job.result).to.deep.equal(expected.get(id));
    }
    await expectEveryCancellationOnce(harness, cancelIds, cancellations, 240_000);
    const octotel = await harness.portal('octotel', 'GET', '/__sandbox/stats');
    expect(octotel.totp_ok, 'Octotel logins with a TOTP step').to.be.greaterThan(0);
    expect(octotel.totp_rejected_invalid).to.equal(0);
    await until(async () => new Set(receiver.received.map((r) => JSON.parse(r.body).job_id)).size === ids.length, 60_000, 'every callback');

    // Every key the system wrote, on every master, carries a hash tag (one slot per queue,
    // per installation's fleet, for TOTP): none could end in a CROSSSLOT refusal.
    const untagged: string[] = [];
    let total = 0;
    for (const node of cluster.nodes) {
      const client = node.client();
      try {
        let cursor = '0';
        do {
          const [next, keys] = await client.scan(cursor, 'COUNT', 1000);
          cursor = next;
          total += keys.length;
          untagged.push(...keys.filter((k) => !/\{[^}]+\}/.test(k)));
        } while (cursor !== '0');
      } finally {
        client.disconnect();
      }
    }
    expect(total, 'keys written').to.be.greaterThan(20);
    expect(untagged).to.deep.equal([]);

    // The health checks read the cluster too.
    const health = await harness.api('GET', '/health');
    expect(health.body.valkey.ok, JSON.stringify(health.body.valkey)).to.equal(true);
    expect(health.body.queues.octotel).to.include({ waiting: 0, active: 0 });
    expect((await harness.api('GET', '/health/ready')).status).to.equal(200);
  });
});
