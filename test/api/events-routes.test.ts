import { expect } from 'chai';
import { insertJobs } from '../../src/db/job-store.js';
import { closeBatch, createBatchWithJobs, finishJob, claimBatchRun, startJob, currentRun } from '../../src/db/job-transitions.js';
import { appendJobEvents } from '../../src/db/event-store.js';
import { OPERATOR_BOOTSTRAP_KEY, startOperatorHarness, type OperatorHarness } from '../support/operator-harness.js';

interface Envelope {
  type: string;
  ts: string;
  data: Record<string, unknown>;
}

/** Reads SSE envelopes from a streaming response until `until` says enough. */
async function readEvents(res: Response, until: (events: Envelope[]) => boolean, timeoutMs = 20_000): Promise<Envelope[]> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const events: Envelope[] = [];
  let buffer = '';
  const deadline = Date.now() + timeoutMs;
  try {
    while (!until(events)) {
      if (Date.now() > deadline) throw new Error(`timed out with ${JSON.stringify(events.map((e) => [e.type, e.data.to]))}`);
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block.split('\n').find((l) => l.startsWith('data: '));
        const type = block.split('\n').find((l) => l.startsWith('event: '));
        if (data) {
          const envelope = JSON.parse(data.slice(6)) as Envelope;
          expect(type).to.equal(`event: ${envelope.type}`);
          events.push(envelope);
        }
      }
    }
  } finally {
    await reader.cancel();
  }
  return events;
}

describe('GET /events', () => {
  let h: OperatorHarness;
  beforeEach(async () => {
    h = await startOperatorHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('streams job and batch status changes as {type, ts, data} envelopes to an operator', async () => {
    const res = await fetch(`${h.url}/events`, { headers: { authorization: `Bearer ${await h.keyFor('operator')}` } });
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/^text\/event-stream/);
    const { db } = h.database;
    const [id] = await insertJobs(db, [{ provider: 'evotel', action: 'validation', parameters: { circuit_number: 'EVO-1' }, callbackUrl: null, externalId: null, requestHash: 'h', submittedBy: 't', maxAttempts: 3 }]);
    const reading = readEvents(res, (events) => events.some((e) => e.type === 'batch.status' && e.data.to === 'completed'));
    await appendJobEvents(db, { jobIds: [id!], from: null, to: 'pending', cause: 'submitted', actor: 't' });
    const batch = (await createBatchWithJobs(db, 'evotel', [{ jobId: id!, trip: 0 }], 'batcher'))!;
    await claimBatchRun(db, batch.batchId, 'w1');
    await startJob(db, id!, await currentRun(db, batch.batchId), 'w1');
    await finishJob(db, id!, await currentRun(db, batch.batchId), { status: 'completed', result: { found: true }, evidence: [], cause: 'done' }, 'w1');
    await closeBatch(db, batch.batchId, 'completed');
    const events = await reading;

    const jobChanges = events.filter((e) => e.type === 'job.status').map((e) => [e.data.job_id, e.data.from, e.data.to]);
    expect(jobChanges).to.deep.equal([
      [Number(id), null, 'pending'],
      [Number(id), 'pending', 'pending'],
      [Number(id), 'pending', 'running'],
      [Number(id), 'running', 'completed'],
    ]);
    const last = events.find((e) => e.type === 'job.status' && e.data.to === 'completed')!;
    expect(last.data).to.include({ provider: 'evotel', action: 'validation', batch_id: Number(batch.batchId), actor: 'w1' });
    expect(new Date(last.ts).getTime()).to.be.closeTo(Date.now(), 60_000);
    const batchChanges = events.filter((e) => e.type === 'batch.status').map((e) => e.data.to);
    expect(batchChanges.at(-1)).to.equal('completed');
    expect(events.find((e) => e.type === 'batch.status' && e.data.to === 'completed')!.data).to.include({ batch_id: Number(batch.batchId), provider: 'evotel', completed: 1 });
  });

  it('is for keys that read jobs: no key or a wrong one is 401, a query string 400', async () => {
    expect((await fetch(`${h.url}/events`)).status).to.equal(401);
    expect((await fetch(`${h.url}/events`, { headers: { authorization: 'Bearer rpa_wrong' } })).status).to.equal(401);
    const query = await fetch(`${h.url}/events?since=1h`, { headers: { authorization: `Bearer ${await h.keyFor('viewer')}` } });
    expect(query.status).to.equal(400);
    expect(((await query.json()) as { error: { field: string } }).error.field).to.equal('since');
  });

  it("gives a submitter the changes of its own jobs only (no batches), a viewer every change", async () => {
    const { db } = h.database;
    const submitter = await fetch(`${h.url}/events`, { headers: { authorization: `Bearer ${await h.keyFor('submitter')}` } });
    const viewer = await fetch(`${h.url}/events`, { headers: { authorization: `Bearer ${await h.keyFor('viewer')}` } });
    expect([submitter.status, viewer.status]).to.deep.equal([200, 200]);
    const job = (circuit: string, submittedBy: string) => ({ provider: 'evotel', action: 'validation' as const, parameters: { circuit_number: circuit }, callbackUrl: null, externalId: null, requestHash: circuit, submittedBy, maxAttempts: 3 });
    const [other] = await insertJobs(db, [job('EVO-OTHER', 'someone-else')]);
    const [own] = await insertJobs(db, [job('EVO-OWN', 'test-submitter')]);
    const viewerReading = readEvents(viewer, (events) => events.some((e) => e.data.job_id === Number(own)));
    const submitterReading = readEvents(submitter, (events) => events.some((e) => e.data.job_id === Number(own)));
    await appendJobEvents(db, { jobIds: [other!], from: null, to: 'pending', cause: 'submitted', actor: 'someone-else' });
    await createBatchWithJobs(db, 'evotel', [{ jobId: other!, trip: 0 }], 'batcher');
    // The other key's job and the batch went out in an earlier poll than our own job's event.
    await new Promise((r) => setTimeout(r, 2_500));
    await appendJobEvents(db, { jobIds: [own!], from: null, to: 'pending', cause: 'submitted', actor: 'test-submitter' });
    const [seenByViewer, seenBySubmitter] = await Promise.all([viewerReading, submitterReading]);
    expect(seenByViewer.some((e) => e.data.job_id === Number(other))).to.equal(true);
    expect(seenByViewer.some((e) => e.type === 'batch.status')).to.equal(true);
    expect(seenBySubmitter.map((e) => [e.type, e.data.job_id])).to.deep.equal([['job.status', Number(own)]]);
    expect(JSON.stringify(seenBySubmitter)).to.not.include('someone-else');
  });

  it("ends a stream within seconds of its key's revocation, however many changes follow", async function () {
    this.timeout(30_000);
    const created = await fetch(`${h.url}/api-keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${OPERATOR_BOOTSTRAP_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'dashboard', role: 'operator' }),
    });
    const { key } = (await created.json()) as { key: string };
    const abort = new AbortController();
    const res = await fetch(`${h.url}/events`, { headers: { authorization: `Bearer ${key}` }, signal: abort.signal });
    expect(res.status).to.equal(200);
    const { db } = h.database;
    const [id] = await insertJobs(db, [{ provider: 'evotel', action: 'validation', parameters: { circuit_number: 'EVO-R' }, callbackUrl: null, externalId: null, requestHash: 'r', submittedBy: 't', maxAttempts: 3 }]);
    // Changes keep coming, as in a busy system, before and after the revocation.
    let writing = true;
    const writer = (async () => {
      while (writing) {
        await appendJobEvents(db, { jobIds: [id!], from: 'pending', to: 'pending', cause: 'tick', actor: 't' });
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const giveUp = setTimeout(() => abort.abort(), 20_000);
    try {
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let before = 0;
      let after = 0;
      let revokedAt: number | undefined;
      let revoking: Promise<void> | undefined;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const events = (decoder.decode(value, { stream: true }).match(/^event: /gm) ?? []).length;
        if (revokedAt === undefined) before += events;
        else after += events;
        if (before >= 3 && !revoking) {
          revoking = fetch(`${h.url}/api-keys/dashboard`, { method: 'DELETE', headers: { authorization: `Bearer ${OPERATOR_BOOTSTRAP_KEY}` } }).then((r) => {
            expect(r.status).to.equal(200);
            revokedAt = Date.now();
          });
        }
      }
      await revoking;
      expect(revokedAt, 'revoked before the stream ended').to.be.a('number');
      // The server ended the stream (done), soon after the revocation.
      expect(Date.now() - revokedAt!).to.be.below(5_000);
      expect(before).to.be.at.least(3);
      // At most the changes of the polls before the key was seen revoked.
      expect(after).to.be.below(30);
    } finally {
      clearTimeout(giveUp);
      writing = false;
      await writer;
    }
  });
});
