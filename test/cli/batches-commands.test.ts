import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Redis } from 'iovalkey';
import { insertJobs } from '../../src/db/job-store.js';
import { closeBatch, createBatchWithJobs, finishJob, claimBatchRun, startJob, currentRun } from '../../src/db/job-transitions.js';
import { providerQueueJobId } from '../../src/queues/queue-names.js';
import { QueueRegistry } from '../../src/queues/queue-registry.js';
import { createValkey } from '../../src/queues/valkey.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { sharedValkey, testRoot, uniquePrefix } from '../support/shared-services.js';

const exec = promisify(execFile);
const bin = join(process.cwd(), 'bin', 'rpa.mjs');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('rpa batches and rpa jobs (real Postgres and Valkey)', () => {
  let database: TestDatabase;
  let valkey: Redis;
  let queues: QueueRegistry;
  let env: NodeJS.ProcessEnv;

  const rpa = async (...args: string[]): Promise<Run> => {
    try {
      const { stdout, stderr } = await exec(process.execPath, [bin, ...args], { env });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  const rpaJson = async (...args: string[]) => {
    const run = await rpa(...args, '--json');
    expect(run.code, run.stderr).to.equal(0);
    return JSON.parse(run.stdout);
  };
  const snapshot = async () => ({
    jobs: await database.db.selectFrom('jobs').selectAll().orderBy('id').execute(),
    events: await database.db.selectFrom('job_events').select(['id']).execute(),
    batches: await database.db.selectFrom('batches').selectAll().orderBy('id').execute(),
    queued: await queues.providerJobs('openserve').getJobCounts(),
  });

  /** A batch of four that failed part-way: one completed, one failed, one left running, one never started. */
  async function partlyFailedBatch() {
    const ids = await insertJobs(
      database.db,
      ['1', '2', '3', '4'].map((n) => ({
        provider: 'openserve',
        action: 'validation' as const,
        parameters: { circuit_number: `OSV-00000${n}` },
        callbackUrl: null,
        externalId: null,
        requestHash: `h${n}`,
        submittedBy: 'test',
        maxAttempts: 3,
      })),
    );
    const batch = (await createBatchWithJobs(database.db, 'openserve', ids.map((jobId) => ({ jobId, trip: 0 })), 'test'))!;
    await claimBatchRun(database.db, batch.batchId, 'worker-1');
    await startJob(database.db, ids[0]!, await currentRun(database.db, batch.batchId), 'test');
    await finishJob(database.db, ids[0]!, await currentRun(database.db, batch.batchId), { status: 'completed', result: { found: true }, evidence: [], cause: 'done' }, 'test');
    await startJob(database.db, ids[1]!, await currentRun(database.db, batch.batchId), 'test');
    await finishJob(database.db, ids[1]!, await currentRun(database.db, batch.batchId), { status: 'failed', error: { code: 'PORTAL_UNAVAILABLE', message: 'down' }, evidence: [], cause: 'portal down' }, 'test');
    await startJob(database.db, ids[2]!, await currentRun(database.db, batch.batchId), 'test');
    await closeBatch(database.db, batch.batchId, 'failed', { code: 'BROWSER_GONE', message: 'the browser died' });
    return { batchId: batch.batchId, ids };
  }

  beforeEach(async () => {
    database = await createTestDatabase();
    const server = await sharedValkey();
    const prefix = uniquePrefix('cli');
    valkey = createValkey(server.url, 'producer');
    queues = new QueueRegistry(valkey, prefix);
    env = { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: database.url, VALKEY_URL: server.url, QUEUE_PREFIX: prefix, RPA_DATA_DIR: mkdtempSync(join(testRoot(), 'cli-')) };
  });

  afterEach(async () => {
    await queues.close();
    valkey.disconnect();
    await database.drop();
  });

  it('lists and shows a batch that failed part-way, as a table and as JSON', async () => {
    const { batchId, ids } = await partlyFailedBatch();
    const table = await rpa('batches', 'list', '--status', 'failed');
    expect(table.code).to.equal(0);
    expect(table.stdout).to.match(/^batch\s+provider\s+status\s+progress\s+failed\s+started\s+error/);
    expect(table.stdout).to.match(new RegExp(`${batchId}\\s+openserve\\s+failed\\s+2/4\\s+1\\s+\\S+ \\S+\\s+BROWSER_GONE: the browser died`));
    expect((await rpaJson('batches', 'list', '--provider', 'octotel')).batches).to.deep.equal([]);
    expect((await rpaJson('batches', 'list', '--since', '1h')).batches.map((b: { id: string }) => b.id)).to.deep.equal([batchId]);

    const shown = await rpaJson('batches', 'show', batchId);
    expect(shown.batch.status).to.equal('failed');
    expect(shown.jobs.map((j: { id: string; status: string }) => [j.id, j.status])).to.deep.equal([
      [ids[0], 'completed'],
      [ids[1], 'failed'],
      [ids[2], 'running'],
      [ids[3], 'pending'],
    ]);
    const job = await rpaJson('jobs', 'show', ids[1]!);
    expect(job.job.error.code).to.equal('PORTAL_UNAVAILABLE');
    expect(job.events.map((e: { to_status: string }) => e.to_status)).to.deep.equal(['pending', 'running', 'failed']);
    const listed = await rpaJson('jobs', 'list', '--batch', batchId, '--status', 'running');
    expect(listed.jobs.map((j: { id: string }) => j.id)).to.deep.equal([ids[2]]);

    const missing = await rpa('batches', 'show', '999999');
    expect(missing.code).to.equal(1);
    expect(missing.stderr.trim()).to.equal('rpa: no batch 999999');
  });

  it('requeue --dry-run changes nothing; requeue brings back only the unfinished jobs, once; the second run does nothing more', async () => {
    const { batchId, ids } = await partlyFailedBatch();
    const before = await snapshot();

    const dry = await rpaJson('batches', 'requeue', '--failed', '--dry-run');
    expect(dry.dryRun).to.equal(true);
    expect(dry.requeued.map((r: { id: string }) => r.id)).to.deep.equal([ids[1], ids[2], ids[3]]);
    expect(await snapshot()).to.deep.equal(before);

    const run = await rpa('batches', 'requeue', batchId, '--reason', 'portal back up', '--actor', 'alice');
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.include('requeued 3 job(s), left 1 alone');
    expect(run.stdout).to.include('completed jobs are never requeued');

    const jobs = await database.db.selectFrom('jobs').selectAll().orderBy('id').execute();
    expect(jobs[0]).to.include({ status: 'completed', batch_id: batchId, queue_trip: 0 });
    for (const job of jobs.slice(1)) {
      expect(job).to.include({ status: 'pending', batch_id: null, attempts: 0, queue_trip: 1 });
      expect(job.enqueued_at).to.be.an.instanceOf(Date);
      const queued = await queues.providerJobs('openserve').getJob(providerQueueJobId(job.id, 1));
      expect(queued?.data).to.deep.include({ jobId: job.id, trip: 1 });
    }
    const events = await database.db.selectFrom('job_events').selectAll().where('cause', 'like', 'requeued by operator%').orderBy('job_id').execute();
    expect(events.map((e) => [e.job_id, e.from_status, e.to_status, e.actor, e.cause])).to.deep.equal([
      [ids[1], 'failed', 'pending', 'alice', 'requeued by operator: portal back up'],
      [ids[2], 'running', 'pending', 'alice', 'requeued by operator: portal back up'],
      [ids[3], 'pending', 'pending', 'alice', 'requeued by operator: portal back up'],
    ]);
    const batch = await database.db.selectFrom('batches').selectAll().where('id', '=', batchId).executeTakeFirstOrThrow();
    expect(batch.returned_count).to.equal(2);

    const after = await snapshot();
    const again = await rpaJson('batches', 'requeue', batchId);
    expect(again.requeued).to.deep.equal([]);
    expect(await rpaJson('batches', 'requeue', '--failed')).to.include({ dryRun: false });
    expect(await rpaJson('jobs', 'requeue', ...ids)).to.deep.include({ requeued: [] });
    expect(await snapshot()).to.deep.equal(after);

    // The requeued jobs take the normal path: a new batch picks them up and they complete.
    const next = (await createBatchWithJobs(database.db, 'openserve', jobs.slice(1).map((j) => ({ jobId: j.id, trip: 1 })), 'batcher'))!;
    expect(next.jobIds).to.deep.equal(ids.slice(1));
    for (const id of next.jobIds) {
      const started = await startJob(database.db, id, await currentRun(database.db, next.batchId), 'worker');
      expect(started.kind === 'started' ? started.job.attempts : undefined).to.equal(1);
      expect(await finishJob(database.db, id, await currentRun(database.db, next.batchId), { status: 'completed', result: { found: true }, evidence: [], cause: 'done' }, 'worker')).to.equal(true);
    }
    const finished = await rpaJson('jobs', 'list', '--status', 'completed');
    expect(finished.jobs.map((j: { id: string }) => j.id).sort()).to.deep.equal([...ids].sort());
  });

  it('bad arguments exit non-zero with one line and change nothing', async () => {
    await partlyFailedBatch();
    const before = await snapshot();
    const cases: string[][] = [
      ['batches', 'requeue'],
      ['batches', 'requeue', 'abc'],
      ['batches', 'requeue', '1', '--failed'],
      ['batches', 'requeue', '--failed', '--provider', 'nope'],
      ['batches', 'requeue', '--failed', '--since', 'yesterday'],
      ['batches', 'requeue', '999999'],
      ['batches', 'list', '--status', 'broken'],
      ['jobs', 'requeue', '-1'],
      ['jobs', 'list', '--limit', '0'],
    ];
    for (const args of cases) {
      const run = await rpa(...args);
      expect(run.code, args.join(' ')).to.not.equal(0);
      expect(run.stderr.trim(), args.join(' ')).to.not.equal('');
      expect(run.stderr.trim().split('\n')[0], args.join(' ')).to.match(/^(rpa: |error: )/);
    }
    expect(await snapshot()).to.deep.equal(before);
  });

  it('says how to reach the database when none is configured or advertised', async () => {
    env = { PATH: process.env.PATH, HOME: process.env.HOME, RPA_DATA_DIR: mkdtempSync(join(testRoot(), 'cli-')) };
    const run = await rpa('batches', 'list');
    expect(run.code).to.equal(1);
    expect(run.stderr).to.match(/^rpa: no database to talk to: set DATABASE_URL, or start the system/);
  });
});
