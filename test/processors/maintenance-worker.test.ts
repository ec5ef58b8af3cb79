import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import type { Redis } from 'iovalkey';
import { insertJobs } from '../../src/db/job-store.js';
import { closeBatch, createBatchWithJobs, finishJob, startJob, currentRun } from '../../src/db/job-transitions.js';
import { JobEnqueuer } from '../../src/queues/job-enqueuer.js';
import { JobSubmission } from '../../src/jobs/job-submission.js';
import { startMaintenanceWorker, type MaintenanceWorker } from '../../src/processors/maintenance-worker.js';
import { trimQueues } from '../../src/processors/retention.js';
import { createValkey } from '../../src/queues/valkey.js';
import { schedulerId } from '../../src/jobs/schedules.js';
import { sharedValkey, testLogger, testRoot } from '../support/shared-services.js';
import type { EvidenceStore } from '../../src/evidence/evidence-store.js';
import { EvidenceRecorder } from '../../src/evidence/evidence-recorder.js';
import { FsEvidenceStore } from '../../src/evidence/fs-evidence-store.js';
import { S3EvidenceStore } from '../../src/evidence/s3-evidence-store.js';
import { verifyJob } from '../../src/evidence/evidence-verifier.js';
import { startS3Server, type S3Server } from '../support/s3-server.js';
import { startOperatorHarness, type OperatorHarness } from '../support/operator-harness.js';

const exec = promisify(execFile);
const bin = join(process.cwd(), 'bin', 'rpa.mjs');

describe('maintenance role: schedules and retention', () => {
  let h: OperatorHarness;
  let connection: Redis;
  let worker: MaintenanceWorker | undefined;
  let evidence: EvidenceStore;
  let s3: S3Server | undefined;
  after(async () => {
    await s3?.stop();
  });
  beforeEach(async () => {
    // Runs every second, to see them within the test: SCHEDULE_MIN_INTERVAL_MS=0 lifts the floor
    // (5 min by default; test/api/request-schemas.test.ts checks it).
    h = await startOperatorHarness({ RETENTION_DAYS: '30', SCHEDULE_MIN_INTERVAL_MS: '0' });
    connection = createValkey((await sharedValkey()).url, 'worker');
    evidence = new FsEvidenceStore(h.config.evidenceDir);
  });
  afterEach(async () => {
    await worker?.close();
    worker = undefined;
    connection.disconnect();
    await evidence.close();
    await h.close();
  });
  const start = async () => {
    worker = await startMaintenanceWorker({
      db: h.database.db,
      connection,
      queues: h.queues,
      submission: new JobSubmission(h.database.db, new JobEnqueuer(h.database.db, h.queues, testLogger), 3, testLogger),
      callbackPolicy: { allowHosts: [] },
      retentionDays: h.config.retentionDays,
      evidence,
      evidenceDir: h.config.evidenceDir,
      logger: testLogger,
    });
    return worker;
  };
  const api = async (method: string, path: string, key: string, body?: unknown) => {
    const res = await fetch(h.url + path, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };

  it('an operator schedules circuits through the API; each run creates ordinary jobs; delete stops it', async () => {
    const operator = await h.keyFor('operator');
    const bad = await api('POST', '/schedules', operator, { name: 'bad', cron: 'every tuesday', provider: 'octotel', action: 'validation', jobs: [{ circuit_number: 'OCT123451' }] });
    expect(bad.status).to.equal(400);
    expect(bad.body.error.field).to.equal('cron');
    const badCircuit = await api('POST', '/schedules', operator, { name: 'bad', cron: '* * * * * *', provider: 'octotel', action: 'validation', jobs: [{ circuit_number: 'nope' }] });
    expect(badCircuit.status).to.equal(400);
    expect((await api('POST', '/schedules', await h.keyFor('submitter'), { name: 'x', cron: '* * * * * *' })).status).to.equal(403);
    expect(await h.database.db.selectFrom('schedules').selectAll().execute()).to.deep.equal([]);

    await start();
    const created = await api('POST', '/schedules', operator, { name: 'octotel every second', cron: '* * * * * *', provider: 'octotel', action: 'validation', jobs: [{ circuit_number: 'OCT123451' }, { circuit_number: 'OCT123452' }] });
    expect(created.status).to.equal(201);
    expect(created.body).to.include({ name: 'octotel every second', provider: 'octotel', action: 'validation', job_count: 2, created_by: 'test-operator' });
    expect(created.body.next_run_at).to.be.a('string');

    const deadline = Date.now() + 20_000;
    let jobs: Array<{ circuit_number: string; submitted_by: string | null; status: string }> = [];
    while (jobs.length < 4 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      jobs = await h.database.db.selectFrom('jobs').select(['circuit_number', 'submitted_by', 'status']).orderBy('id').execute();
    }
    expect(jobs.length).to.be.at.least(4);
    expect(jobs.slice(0, 2)).to.deep.equal([
      { circuit_number: 'OCT123451', submitted_by: 'schedule:octotel every second', status: 'pending' },
      { circuit_number: 'OCT123452', submitted_by: 'schedule:octotel every second', status: 'pending' },
    ]);
    expect(await h.queues.providerJobs('octotel').count()).to.be.at.least(4);
    const listed = await api('GET', '/schedules', await h.keyFor('viewer'));
    expect(listed.body.schedules[0].runs).to.be.at.least(2);

    expect((await api('DELETE', `/schedules/${created.body.schedule_id}`, operator)).status).to.equal(204);
    expect(await h.queues.maintenance().getJobScheduler(schedulerId(String(created.body.schedule_id)))).to.equal(undefined);
    expect((await api('DELETE', `/schedules/${created.body.schedule_id}`, operator)).status).to.equal(404);
  });

  it('rpa schedules create, list and delete', async () => {
    const dir = mkdtempSync(join(testRoot(), 'sched-'));
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: h.database.url, VALKEY_URL: (await sharedValkey()).url, QUEUE_PREFIX: h.config.queuePrefix, RPA_DATA_DIR: dir };
    const rpa = async (...args: string[]) => {
      try {
        const { stdout } = await exec(process.execPath, [bin, ...args], { env });
        return { code: 0, stdout, stderr: '' };
      } catch (error) {
        const e = error as { code: number; stdout: string; stderr: string };
        return { code: e.code, stdout: e.stdout, stderr: e.stderr };
      }
    };
    const file = join(dir, 'circuits.csv');
    writeFileSync(file, 'circuit_number\nMFN-1234-5671\nMFN-1234-5672\n');
    const created = await rpa('schedules', 'create', '--name', 'weekday check', '--cron', '0 6 * * 1-5', '--tz', 'Africa/Johannesburg', '--provider', 'metrofiber', '--file', file, '--json');
    expect(created.code, created.stderr).to.equal(0);
    const view = JSON.parse(created.stdout);
    expect(view).to.include({ name: 'weekday check', cron: '0 6 * * 1-5', timezone: 'Africa/Johannesburg', job_count: 2 });
    expect(new Date(view.next_run_at).getUTCHours()).to.equal(4);
    const again = await rpa('schedules', 'create', '--name', 'weekday check', '--cron', '0 6 * * 1-5', '--provider', 'metrofiber', '--file', file);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.match(/^rpa: a schedule named "weekday check" exists/);
    const badCron = await rpa('schedules', 'create', '--name', 'other', '--cron', '61 * * * *', '--provider', 'metrofiber', '--file', file);
    expect(badCron.code).to.equal(1);
    expect(badCron.stderr).to.match(/^rpa: cron: "61 \* \* \* \*" is not a valid cron expression/);

    const list = await rpa('schedules', 'list');
    expect(list.stdout).to.match(/weekday check\s+0 6 \* \* 1-5\s+Africa\/Johannesburg\s+metrofiber\s+validation\s+2\s+0/);
    expect((await rpa('schedules', 'delete', String(view.schedule_id))).code).to.equal(0);
    expect(JSON.parse((await rpa('schedules', 'list', '--json')).stdout)).to.deep.equal({ schedules: [] });
    expect((await rpa('schedules', 'delete', String(view.schedule_id))).code).to.equal(1);
    expect(await h.queues.maintenance().getJobSchedulers()).to.have.length(0);
  });

  const retentionPurges = async () => {
    const { db } = h.database;
    const recorder = new EvidenceRecorder(evidence);
    const ids = await insertJobs(
      db,
      ['1', '2', '3', '4'].map((n) => ({ provider: 'evotel', action: 'validation' as const, parameters: { circuit_number: `EVO-${n}` }, callbackUrl: null, externalId: null, requestHash: n, submittedBy: 't', maxAttempts: 3 })),
    );
    const batch = (await createBatchWithJobs(db, 'evotel', ids.slice(0, 3).map((jobId) => ({ jobId, trip: 0 })), 't'))!;
    // A legacy screenshot path (jobs.evidence, before migration 000005) inside EVIDENCE_DIR, and one outside it.
    const legacyDir = join(h.config.evidenceDir, 'evotel', batch.batchId);
    mkdirSync(legacyDir, { recursive: true });
    const oldShot = join(legacyDir, 'job-old.png');
    writeFileSync(oldShot, 'png');
    const outside = join(testRoot(), `outside-${batch.batchId}.png`);
    writeFileSync(outside, 'keep me');
    const shots = new Map<string, string>();
    for (const [i, id] of ids.slice(0, 3).entries()) {
      await startJob(db, id, await currentRun(db, batch.batchId), 't');
      const items = [await recorder.record({ jobId: id, batchId: batch.batchId, step: 'result', contentType: 'image/png', body: Buffer.from(`png of ${id}`), takenAt: recorder.moment() })];
      shots.set(id, items[0]!.key);
      await finishJob(db, id, await currentRun(db, batch.batchId), { status: i === 2 ? 'failed' : 'completed', result: {}, error: i === 2 ? { code: 'X', message: 'x' } : null, evidence: items, cause: 'done' }, 't');
    }
    await db.updateTable('jobs').set({ evidence: JSON.stringify([oldShot, outside]) }).where('id', '=', ids[0]!).execute();
    // A batch's own session evidence (a failed login), and a batch that ends empty and old.
    const orphanBatch = (await createBatchWithJobs(db, 'evotel', [{ jobId: ids[3]!, trip: 0 }], 't'))!;
    const sessionShot = await recorder.record({ batchId: orphanBatch.batchId, step: 'login-failed', contentType: 'image/png', body: Buffer.from('login page'), takenAt: recorder.moment() });
    await db.updateTable('jobs').set({ batch_id: null }).where('id', '=', ids[3]!).execute();
    await db.deleteFrom('batch_jobs').where('batch_id', '=', orphanBatch.batchId).execute();
    await closeBatch(db, orphanBatch.batchId, 'failed');
    await db.updateTable('batches').set({ finished_at: sql`now() - interval '40 days'` }).where('id', '=', orphanBatch.batchId).execute();
    await closeBatch(db, batch.batchId, 'completed');
    // Job 0 and job 2 ended 40 days ago, job 1 yesterday; job 3 is still pending (and old).
    await db.updateTable('jobs').set({ completed_at: sql`now() - interval '40 days'` }).where('id', 'in', [ids[0]!, ids[2]!]).execute();
    await db.updateTable('jobs').set({ completed_at: sql`now() - interval '1 day'` }).where('id', '=', ids[1]!).execute();
    await db.updateTable('jobs').set({ created_at: sql`now() - interval '90 days'`, updated_at: sql`now() - interval '90 days'` }).where('id', '=', ids[3]!).execute();

    const w = await start();
    expect(await h.queues.maintenance().getJobScheduler('retention')).to.include({ key: 'retention', pattern: '15 3 * * *' });
    const result = await w.retention();
    // Two jobs' screenshots, the legacy one, the orphan batch's session screenshot.
    expect(result).to.include({ jobs: 2, batches: 1, evidenceFiles: 4 });
    const left = await db.selectFrom('jobs').select('id').orderBy('id').execute();
    expect(left.map((r) => r.id)).to.deep.equal([ids[1], ids[3]]);
    expect(await db.selectFrom('job_events').select('job_id').where('job_id', 'in', [ids[0]!, ids[2]!]).execute()).to.deep.equal([]);
    expect(await db.selectFrom('job_evidence').select('job_id').where('job_id', 'in', [ids[0]!, ids[2]!]).execute()).to.deep.equal([]);
    expect(await db.selectFrom('job_audit').select('job_id').where('job_id', 'in', [ids[0]!, ids[2]!]).execute()).to.deep.equal([]);
    expect(await db.selectFrom('job_events').select('job_id').where('job_id', '=', ids[1]!).execute()).to.have.length.greaterThan(0);
    expect(await evidence.get(shots.get(ids[0]!)!)).to.equal(undefined);
    expect(await evidence.get(shots.get(ids[2]!)!)).to.equal(undefined);
    expect(await evidence.get(sessionShot.key)).to.equal(undefined);
    expect(await evidence.get(shots.get(ids[1]!)!)).to.be.instanceOf(Buffer);
    expect(existsSync(oldShot)).to.equal(false);
    expect(existsSync(outside)).to.equal(true);
    // The kept job's chain still verifies against its stored evidence.
    const kept = await verifyJob(db, evidence, ids[1]!);
    expect(kept.problems).to.deep.equal([]);
    // assigned, running, the screenshot, completed.
    expect(kept.entries).to.equal(4);
    // The batch still has a member (job 1), so it stays.
    expect(await db.selectFrom('batches').select('id').execute()).to.have.length(1);
    expect(await w.retention()).to.include({ jobs: 0, batches: 0, evidenceFiles: 0 });
    return w;
  };

  it('retention (s3 evidence): purges old jobs\' evidence objects from the bucket, keeps the rest verifiable', async function () {
    this.timeout(60_000);
    s3 ??= await startS3Server();
    await evidence.close();
    evidence = new S3EvidenceStore({ bucket: s3.bucket, endpoint: s3.endpoint, region: 'us-east-1', accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, forcePathStyle: true, prefix: `${h.config.queuePrefix}/` });
    await retentionPurges();
  });

  it('retention purges finished jobs older than RETENTION_DAYS with their events and evidence, keeps the rest, and trims BullMQ', async () => {
    await retentionPurges();

    // BullMQ's completed set: entries older than the grace period go.
    const queue = h.queues.callbacks();
    await queue.add('done', {}, { jobId: 'done-1' });
    const ref = { name: queue.name, prefix: queue.opts.prefix! };
    const { Worker } = await import('bullmq');
    const done = new Worker(ref.name, async () => 'ok', { connection: connection as never, prefix: ref.prefix });
    await new Promise<void>((resolve) => done.on('completed', () => resolve()));
    await done.close();
    expect(await queue.getCompletedCount()).to.equal(1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await trimQueues(h.queues.all(), { completedAgeMs: 1, failedAgeMs: 1 })).to.equal(1);
    expect(await queue.getCompletedCount()).to.equal(0);
  });
});
