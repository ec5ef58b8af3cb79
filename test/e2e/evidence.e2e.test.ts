import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import { sha256Hex } from '../../src/evidence/audit-chain.js';
import { startS3Server, type S3Server } from '../support/s3-server.js';
import { testRoot, uniquePrefix } from '../support/shared-services.js';
import { SYSTEM_API_KEY, startCallbackReceiver, startSystemHarness, waitForJobs, type CallbackReceiver, type SystemHarness } from '../support/system-harness.js';
import { exited, startWorkerProcess } from '../support/worker-process.js';
import { PROVIDERS, activeCircuit, checkServedEvidence, checkVerify, serverPaths, submitOnePairPerProvider } from './support/evidence-checks.js';

/** Every file under `dir` (none when it does not exist). */
function filesUnder(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((name) => (statSync(join(dir, name)).isDirectory() ? filesUnder(join(dir, name)) : [join(dir, name)]));
}

/** Changes one byte of a file; resolves with what puts it back. */
function flipByteOf(file: string): () => Promise<void> {
  const original = readFileSync(file);
  const changed = Buffer.from(original);
  changed[changed.length - 1] = changed[changed.length - 1]! ^ 0x01;
  writeFileSync(file, changed);
  return async () => writeFileSync(file, original);
}

/** The checks try every evidence URL with an unknown key: more than the failed-login throttle lets one address present (RATE_LIMIT_FAILED_LOGINS, 10). */
const PRESENTS_WRONG_KEYS = { RATE_LIMIT_FAILED_LOGINS: '1000' };

describe('evidence end to end: served by the API, signed into callbacks, verifiable (fs store)', function () {
  this.timeout(600_000);
  let harness: SystemHarness;
  let receiver: CallbackReceiver;

  before(async () => {
    receiver = await startCallbackReceiver();
    // No canary and a high drift threshold: the drifted portal below fails its job (at
    // JOB_MAX_ATTEMPTS) instead of pausing Evotel first, so the failure's evidence can be read.
    harness = await startSystemHarness({ BATCH_SIZE: '10', BATCH_CANARY: 'off', EVOTEL_DRIFT_THRESHOLD: '10', ...PRESENTS_WRONG_KEYS });
  });
  after(async () => {
    await harness?.close();
    await receiver?.close();
  });

  it('a validation and a cancellation per provider: evidence served by URL with its sha256, callbacks with absolute URLs and audit_head, no server path; rpa evidence verify catches a changed byte and an edited event', async () => {
    const submitted = await submitOnePairPerProvider(harness, receiver, 1_001);
    const jobs = await checkServedEvidence(harness, receiver, submitted, harness.system.apiUrl!, serverPaths(harness));

    const env = { DATABASE_URL: harness.database.url, RPA_DATA_DIR: join(testRoot(), uniquePrefix('cli')), EVIDENCE_DIR: harness.system.config.evidenceDir };
    const cancellation = jobs.get(submitted.find((s) => s.action === 'cancellation')!.id);
    const callback = JSON.parse(receiver.received.find((r) => JSON.parse(r.body).job_id === cancellation.job_id)!.body);
    await checkVerify(harness, env, cancellation.job_id, cancellation.batch_id, callback.audit_head, async (key) => flipByteOf(join(harness.system.config.evidenceDir, key)));
  });

  it('a job that fails keeps the page at the failure and, beside it, the failing selector and a DOM snippet', async () => {
    await harness.portal('evotel', 'POST', '/__sandbox/config', { drift: true });
    try {
      const res = await harness.api('POST', '/jobs', { provider: 'evotel', action: 'validation', circuit_number: activeCircuit('evotel', 7_001) });
      expect(res.status).to.equal(202);
      const job = (await waitForJobs(harness, [res.body.job_id], 240_000)).get(res.body.job_id);
      expect(job.status).to.equal('failed');
      expect(job.error.code).to.equal('PAGE_CONTRACT_MISMATCH');
      // One page and one record for each attempt (JOB_MAX_ATTEMPTS, 3): every try met the changed portal.
      const attempts = harness.system.config.jobMaxAttempts;
      expect(job.evidence.map((e: { step: string; content_type: string }) => `${e.step} ${e.content_type}`)).to.deep.equal(Array.from({ length: attempts }, () => ['failed image/png', 'failed application/json']).flat());
      expect(new Set(job.evidence.map((e: { name: string }) => e.name)).size, 'each attempt its own names').to.equal(2 * attempts);
      const [shot, record] = job.evidence.slice(-2);
      expect(record.name).to.equal(shot.name.replace(/\.png$/, '.json'));
      const served = await fetch(harness.system.apiUrl + record.url, { headers: { authorization: `Bearer ${SYSTEM_API_KEY}` } });
      expect(served.status).to.equal(200);
      expect(served.headers.get('content-type')).to.match(/^application\/json/);
      const text = await served.text();
      expect(sha256Hex(text)).to.equal(record.sha256);
      const details = JSON.parse(text);
      expect(details).to.include({ code: 'PAGE_CONTRACT_MISMATCH', step: 'failed' });
      expect(details.selector).to.be.a('string').and.not.equal('');
      expect(details.dom_snippet).to.be.a('string').and.not.equal('');
      expect(text).to.not.contain(harness.system.config.providers.evotel!.password);
    } finally {
      await harness.portal('evotel', 'POST', '/__sandbox/config', { drift: false });
    }
  });
});

describe('evidence end to end with the S3 store: a worker process that shares no disk with the API', function () {
  this.timeout(600_000);
  let s3: S3Server;
  let harness: SystemHarness;
  let receiver: CallbackReceiver;
  let worker: ChildProcess | undefined;
  const workerData = join(testRoot(), uniquePrefix('worker-data'));

  before(async () => {
    s3 = await startS3Server();
    receiver = await startCallbackReceiver();
    // This process: API, batchers, browsers, portals, maintenance; no worker.
    harness = await startSystemHarness({ RPA_ROLES: 'api,batcher,browser,portals,maintenance', BATCH_SIZE: '10', ...PRESENTS_WRONG_KEYS, ...s3.settings() });
    worker = startWorkerProcess(harness, PROVIDERS, {
      ...s3.settings(),
      RPA_DATA_DIR: workerData,
      EVIDENCE_DIR: join(workerData, 'evidence'),
      PUBLIC_BASE_URL: harness.system.apiUrl!,
    });
  });
  after(async () => {
    if (worker && worker.exitCode === null) {
      worker.kill('SIGTERM');
      await exited(worker);
    }
    await harness?.close();
    await receiver?.close();
    await s3?.stop();
  });

  it('the worker uploads to the bucket, the API serves from it, callbacks point at PUBLIC_BASE_URL; neither process writes evidence to its disk; verify catches a changed object', async () => {
    const submitted = await submitOnePairPerProvider(harness, receiver, 2_001);
    const jobs = await checkServedEvidence(harness, receiver, submitted, harness.system.apiUrl!, serverPaths(harness, [workerData, s3.dir]));
    // The bytes are in the bucket, not on either process's disk.
    expect(filesUnder(harness.system.config.evidenceDir)).to.deep.equal([]);
    expect(filesUnder(join(workerData, 'evidence'))).to.deep.equal([]);
    const objects = filesUnder(join(s3.dir, s3.bucket)).filter((f) => f.endsWith('._S3rver_object'));
    const listed = [...jobs.values()].reduce((n, j) => n + j.evidence.length, 0);
    expect(objects.length).to.equal(listed);

    const env = { DATABASE_URL: harness.database.url, RPA_DATA_DIR: join(testRoot(), uniquePrefix('cli')), ...s3.settings() };
    const cancellation = jobs.get(submitted.find((s) => s.action === 'cancellation' && s.provider === 'octotel')!.id);
    const callback = JSON.parse(receiver.received.find((r) => JSON.parse(r.body).job_id === cancellation.job_id)!.body);
    await checkVerify(harness, env, cancellation.job_id, cancellation.batch_id, callback.audit_head, async (key) => {
      const file = join(s3.dir, s3.bucket, ...`evidence/${key}`.split('/').slice(0, -1), `${key.split('/').at(-1)}._S3rver_object`);
      return flipByteOf(file);
    });
  });
});
