import { expect } from 'chai';
import type { EmbeddedValkeyHandle } from '../../src/infra/embedded-valkey.js';
import { BOOTSTRAP_KEY, startApiHarness, type ApiHarness } from '../support/api-harness.js';
import { privateValkey } from '../support/shared-services.js';

/** Fail closed: the open probes say up or down; what is inside (queues, breakers, error texts) needs a viewer key. */
describe('/health details only with a key of role viewer or above', function () {
  this.timeout(60_000);
  let valkey: EmbeddedValkeyHandle;
  let api: ApiHarness;
  before(async () => {
    valkey = await privateValkey();
    api = await startApiHarness({ valkeyUrl: valkey.url });
  });
  after(async () => {
    await api.close();
    await valkey.stop();
  });

  it('answers {status} alone without a key, with a wrong one or a submitter\'s; the details to viewer, operator and admin', async () => {
    for (const key of [null, 'rpa_not-a-key', await api.keyFor('submitter')]) {
      const res = await api.call('GET', '/health', { key });
      expect(res.status, String(key)).to.equal(200);
      expect(res.body, String(key)).to.deep.equal({ status: 'ok' });
    }
    for (const key of [await api.keyFor('viewer'), await api.keyFor('operator'), BOOTSTRAP_KEY]) {
      const res = await api.call('GET', '/health', { key });
      expect(res.body).to.include({ status: 'ok' });
      expect(res.body.postgres.ok).to.equal(true);
      expect(res.body.queues).to.have.keys('octotel', 'openserve', 'metrofiber', 'evotel');
    }
  });

  it('keeps the internal error texts (addresses, ports) out of /health/live, /health/ready and the keyless /health while Valkey is down', async () => {
    await valkey.stop();
    try {
      const ready = await api.call('GET', '/health/ready', { key: null });
      expect(ready.status).to.equal(200);
      expect(ready.body.valkey).to.have.keys('ok', 'latency_ms');
      expect(ready.body.valkey.ok).to.equal(false);
      const health = await api.call('GET', '/health', { key: null });
      expect(health.status).to.equal(503);
      expect(health.body).to.deep.equal({ status: 'degraded' });
      const live = await api.call('GET', '/health/live', { key: null });
      for (const res of [ready, health, live]) {
        const text = JSON.stringify(res.body);
        expect(text).to.not.match(/ECONNREFUSED|127\.0\.0\.1|:\d{4,5}|writeable|error/i);
      }
      // An operator looking with a key is told why.
      const detailed = await api.call('GET', '/health', { key: BOOTSTRAP_KEY });
      expect(detailed.status).to.equal(503);
      expect(detailed.body.valkey.ok).to.equal(false);
      expect(detailed.body.valkey.error).to.be.a('string').and.not.empty;
    } finally {
      await valkey.restart();
    }
  });
});
