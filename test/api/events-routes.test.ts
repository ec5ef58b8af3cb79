import { expect } from 'chai';
import { insertJobs } from '../../src/db/job-store.js';
import { closeBatch, createBatchWithJobs, finishJob, claimBatchRun, startJob, currentRun } from '../../src/db/job-transitions.js';
import { appendJobEvents } from '../../src/db/event-store.js';
import { startOperatorHarness, type OperatorHarness } from '../support/operator-harness.js';

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

  it('is for operators: no key 401, submitter and viewer 403', async () => {
    expect((await fetch(`${h.url}/events`)).status).to.equal(401);
    for (const role of ['submitter', 'viewer'] as const) {
      const res = await fetch(`${h.url}/events`, { headers: { authorization: `Bearer ${await h.keyFor(role)}` } });
      expect(res.status, role).to.equal(403);
    }
  });
});
