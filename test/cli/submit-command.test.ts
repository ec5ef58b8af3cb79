import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createBatchWithJobs, finishJob, startJob, currentRun } from '../../src/db/job-transitions.js';
import { parseCsv } from '../../src/cli/csv-file.js';
import { testRoot } from '../support/shared-services.js';
import { startOperatorHarness, type OperatorHarness } from '../support/operator-harness.js';

const exec = promisify(execFile);
const bin = join(process.cwd(), 'bin', 'rpa.mjs');

describe('rpa submit', () => {
  let h: OperatorHarness;
  let dir: string;
  beforeEach(async () => {
    h = await startOperatorHarness();
    dir = mkdtempSync(join(testRoot(), 'submit-'));
  });
  afterEach(async () => {
    await h.close();
  });

  const rpa = async (...args: string[]) => {
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, RPA_DATA_DIR: dir };
    try {
      const { stdout, stderr } = await exec(process.execPath, [bin, ...args], { env });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  const jobCount = async () => (await h.database.db.selectFrom('jobs').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n;

  it('parses CSV with quotes, CRLF and a BOM', () => {
    expect(parseCsv('\uFEFFcircuit_number,external_id\r\nOSN0000101,"a, ""b"""\r\n\r\nOSN0000102,\n')).to.deep.equal([
      { circuit_number: 'OSN0000101', external_id: 'a, "b"' },
      { circuit_number: 'OSN0000102', external_id: '' },
    ]);
    expect(() => parseCsv('circuit_number\nOSN1,x\n')).to.throw('CSV line 2: 2 fields, the header has 1');
  });

  it('submits a CSV through the API, is idempotent on a re-run, and --wait reports the finished jobs', async () => {
    const file = join(dir, 'circuits.csv');
    writeFileSync(file, 'circuit_number,external_id\nOSN0000101,ord-1\nOSN0000102,ord-2\nOSN0000103,ord-3\n');
    const key = await h.keyFor('submitter');
    const first = await rpa('submit', '--provider', 'openserve', '--action', 'validation', '--file', file, '--api', h.url, '--key', key, '--json');
    expect(first.code, first.stderr).to.equal(0);
    const out = JSON.parse(first.stdout) as { submitted: number; job_ids: number[] };
    expect(out.submitted).to.equal(3);
    const rows = await h.database.db.selectFrom('jobs').selectAll().orderBy('id').execute();
    expect(rows.map((r) => [Number(r.id), r.circuit_number, r.external_id, r.status])).to.deep.equal([
      [out.job_ids[0], 'OSN0000101', 'ord-1', 'pending'],
      [out.job_ids[1], 'OSN0000102', 'ord-2', 'pending'],
      [out.job_ids[2], 'OSN0000103', 'ord-3', 'pending'],
    ]);

    // Again with --wait: the same jobs (Idempotency-Key), and it waits until they finish.
    const waiting = rpa('submit', '--provider', 'openserve', '--action', 'validation', '--file', file, '--api', h.url, '--key', key, '--wait', '--json');
    const ids = rows.map((r) => r.id);
    const batch = (await createBatchWithJobs(h.database.db, 'openserve', ids.map((jobId) => ({ jobId, trip: 0 })), 'test'))!;
    for (const [i, id] of ids.entries()) {
      await startJob(h.database.db, id, await currentRun(h.database.db, batch.batchId), 'test');
      await finishJob(
        h.database.db,
        id,
        await currentRun(h.database.db, batch.batchId),
        i === 2 ? { status: 'failed', error: { code: 'PORTAL_UNAVAILABLE', message: 'down' }, evidence: [], cause: 'x' } : { status: 'completed', result: { found: i === 0 }, evidence: [], cause: 'x' },
        'test',
      );
    }
    const second = await waiting;
    expect(second.code, second.stderr).to.equal(0);
    const summary = JSON.parse(second.stdout);
    expect(summary.job_ids).to.deep.equal(out.job_ids);
    expect(summary.statuses).to.deep.equal({ completed: 2, failed: 1 });
    expect(summary.found).to.equal(1);
    expect(summary.failed).to.deep.equal([{ job_id: out.job_ids[2], circuit_number: 'OSN0000103', error: { code: 'PORTAL_UNAVAILABLE', message: 'down' } }]);
    expect(await jobCount()).to.equal('3');
  });

  it('refuses bad input with one line and submits nothing', async () => {
    const good = join(dir, 'good.csv');
    writeFileSync(good, 'circuit_number\nOSN0000101\n');
    const noColumn = join(dir, 'nocol.csv');
    writeFileSync(noColumn, 'circuit\nOSN0000101\n');
    const badCircuit = join(dir, 'bad.csv');
    writeFileSync(badCircuit, 'circuit_number\nOSN0000101\nOSN12\n');
    const key = await h.keyFor('submitter');
    const cases: Array<[string[], RegExp]> = [
      [['--provider', 'nope', '--action', 'validation', '--file', good, '--key', key], /unknown provider/],
      [['--provider', 'openserve', '--action', 'validation', '--file', join(dir, 'missing.csv'), '--key', key], /^rpa: cannot read .*missing.csv: ENOENT/],
      [['--provider', 'openserve', '--action', 'validation', '--file', noColumn, '--key', key], /needs a circuit_number column/],
      [['--provider', 'openserve', '--action', 'validation', '--file', badCircuit, '--key', key], /^rpa: the API refused POST \/jobs\/bulk \(400\): jobs\[1\]\.circuit_number/],
      [['--provider', 'openserve', '--action', 'validation', '--file', good, '--key', await h.keyFor('viewer')], /\(403\)/],
      [['--provider', 'openserve', '--action', 'validation', '--file', good], /^rpa: no API key/],
    ];
    for (const [args, message] of cases) {
      const run = await rpa('submit', '--api', h.url, ...args);
      expect(run.code, args.join(' ')).to.not.equal(0);
      expect(run.stderr.split('\n')[0], args.join(' ')).to.match(message);
    }
    expect(await jobCount()).to.equal('0');
  });

  it('waits out the API\'s rate limit (429 with Retry-After) instead of failing', async () => {
    await h.close();
    h = await startOperatorHarness({ RATE_LIMIT_REQUESTS: 'submitter:2', RATE_LIMIT_WINDOW_MS: '2000' });
    const file = join(dir, 'limited.csv');
    writeFileSync(file, 'circuit_number\nOSN0000201\nOSN0000202\nOSN0000203\n');
    const key = await h.keyFor('submitter');
    const started = Date.now();
    // One bulk request and three job reads per --wait round: over two requests per 2 s, so it must wait.
    const waiting = rpa('submit', '--provider', 'openserve', '--action', 'validation', '--file', file, '--api', h.url, '--key', key, '--wait', '--json');
    const ids = await (async () => {
      for (;;) {
        const rows = await h.database.db.selectFrom('jobs').select('id').orderBy('id').execute();
        if (rows.length === 3) return rows.map((r) => r.id);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const batch = (await createBatchWithJobs(h.database.db, 'openserve', ids.map((jobId) => ({ jobId, trip: 0 })), 'test'))!;
    for (const id of ids) {
      await startJob(h.database.db, id, await currentRun(h.database.db, batch.batchId), 'test');
      await finishJob(h.database.db, id, await currentRun(h.database.db, batch.batchId), { status: 'completed', result: { found: true }, evidence: [], cause: 'x' }, 'test');
    }
    const run = await waiting;
    expect(run.code, run.stderr).to.equal(0);
    expect(JSON.parse(run.stdout).statuses).to.deep.equal({ completed: 3 });
    expect(Date.now() - started, 'it waited for the window').to.be.greaterThan(2_000);
  });
});
