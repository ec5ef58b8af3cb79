import { expect } from 'chai';
import { join } from 'node:path';
import { appendJobEvents } from '../../src/db/event-store.js';
import { recordEvidence } from '../../src/db/evidence-metadata-store.js';
import { insertJobs } from '../../src/db/job-store.js';
import { GENESIS, entryHash, extendChain } from '../../src/evidence/audit-chain.js';
import { EvidenceRecorder } from '../../src/evidence/evidence-recorder.js';
import { verifyJob } from '../../src/evidence/evidence-verifier.js';
import { FsEvidenceStore } from '../../src/evidence/fs-evidence-store.js';
import { testRoot, uniquePrefix } from '../support/shared-services.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const newJobs = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ provider: 'evotel', action: 'validation' as const, parameters: { circuit_number: `EVO${String(i).padStart(6, '0')}` }, callbackUrl: null, externalId: null, requestHash: `h${i}`, submittedBy: 't', maxAttempts: 3 }));

describe('audit chain: appends in the transactions that write events and evidence', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  const store = new FsEvidenceStore(join(testRoot(), uniquePrefix('audit-evidence')));
  const recorder = new EvidenceRecorder(store);
  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => {
    await database?.drop();
  });

  it('links each entry to the one before it and ends at the head stored with the job', () => {
    const first = extendChain({ seq: 0, head: null }, [{ kind: 'event', sha256: 'a'.repeat(64) }, { kind: 'evidence', sha256: 'b'.repeat(64) }]);
    expect(first.map((e) => e.seq)).to.deep.equal([1, 2]);
    expect(first[0]!.prev).to.equal(GENESIS);
    expect(first[1]!.prev).to.equal(first[0]!.hash);
    expect(first[1]!.hash).to.equal(entryHash(first[1]!));
    const next = extendChain({ seq: 2, head: first[1]!.hash }, [{ kind: 'event', sha256: 'c'.repeat(64) }]);
    expect(next[0]).to.include({ seq: 3, prev: first[1]!.hash });
    // The hash is of exactly {"seq","kind","sha256","prev"}: a change to any of them changes it.
    expect(entryHash({ ...first[0]!, kind: 'evidence' })).to.not.equal(first[0]!.hash);
  });

  it('serialises concurrent appends for one job: 30 transactions at once give one unbroken chain', async () => {
    const db = database.db;
    const [jobId] = await insertJobs(db, newJobs(1));
    await appendJobEvents(db, { jobIds: [jobId!], from: null, to: 'pending', cause: 'submitted', actor: 't' });
    // Each transaction writes an event and an evidence item, and holds its lock a little while.
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        db.transaction().execute(async (trx) => {
          const item = await recorder.record({ jobId: jobId!, batchId: '1', step: `step${i}`, contentType: 'image/png', body: Buffer.from(`shot ${i}`), takenAt: recorder.moment() });
          await recordEvidence(trx, jobId!, [item]);
          await new Promise((r) => setTimeout(r, 5));
          await appendJobEvents(trx, { jobIds: [jobId!], from: 'pending', to: 'pending', cause: `append ${i}`, actor: 't' });
        }),
      ),
    );
    const entries = await db.selectFrom('job_audit').selectAll().where('job_id', '=', jobId!).orderBy('seq').execute();
    expect(entries.map((e) => e.seq)).to.deep.equal(Array.from({ length: 61 }, (_, i) => i + 1));
    for (let i = 1; i < entries.length; i++) expect(entries[i]!.prev, `entry ${i + 1}`).to.equal(entries[i - 1]!.hash);
    const job = await db.selectFrom('jobs').select(['audit_seq', 'audit_head']).where('id', '=', jobId!).executeTakeFirstOrThrow();
    expect(job).to.deep.equal({ audit_seq: 61, audit_head: entries.at(-1)!.hash });
    const verified = await verifyJob(db, store, jobId!);
    expect(verified.problems).to.deep.equal([]);
    expect(verified).to.include({ intact: true, entries: 61, head: job.audit_head });
  });

  it('a rolled-back transition leaves the chain as it was', async () => {
    const db = database.db;
    const [jobId] = await insertJobs(db, newJobs(1));
    await appendJobEvents(db, { jobIds: [jobId!], from: null, to: 'pending', cause: 'submitted', actor: 't' });
    const before = await db.selectFrom('jobs').select(['audit_seq', 'audit_head']).where('id', '=', jobId!).executeTakeFirstOrThrow();
    const failed = await db
      .transaction()
      .execute(async (trx) => {
        await appendJobEvents(trx, { jobIds: [jobId!], from: 'pending', to: 'running', cause: 'doomed', actor: 't' });
        throw new Error('the transition fails after its event');
      })
      .then(() => undefined, (e: unknown) => e);
    expect((failed as Error).message).to.contain('fails');
    expect(await db.selectFrom('jobs').select(['audit_seq', 'audit_head']).where('id', '=', jobId!).executeTakeFirstOrThrow()).to.deep.equal(before);
    expect((await verifyJob(db, store, jobId!)).intact).to.equal(true);
  });

  it('a bulk append (2,000 jobs in one statement) starts a chain per job', async () => {
    const db = database.db;
    const ids = await insertJobs(db, newJobs(2_000).map((j, i) => ({ ...j, requestHash: `bulk${i}` })));
    const started = Date.now();
    await appendJobEvents(db, { jobIds: ids, from: null, to: 'pending', cause: 'submitted', actor: 't' });
    const took = Date.now() - started;
    const rows = await db.selectFrom('jobs').select(['id', 'audit_seq', 'audit_head']).where('id', 'in', ids).execute();
    expect(rows.every((r) => r.audit_seq === 1 && /^[0-9a-f]{64}$/.test(r.audit_head!))).to.equal(true);
    expect(new Set(rows.map((r) => r.audit_head)).size, 'each job its own head').to.equal(2_000);
    expect(took, 'ms for 2,000 chains').to.be.below(10_000);
  });
});
