import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { runOnPages } from '../../src/processors/page-scheduler.js';

interface Job {
  id: number;
  circuit: string;
}

const jobs = (circuits: string[]): Job[] => circuits.map((circuit, id) => ({ id, circuit }));

/** Runs the schedule with a job taking `ms`, recording what ran where and how many at once. */
async function trace(members: Job[], lanes: number, ms: (job: Job) => number, verdict: (job: Job) => 'next' | 'stop' | 'throw' = () => 'next') {
  const started: Array<{ id: number; lane: number }> = [];
  const onCircuit = new Map<string, number>();
  const onLane = new Set<number>();
  let atOnce = 0;
  let most = 0;
  let sameCircuitAtOnce = false;
  let laneTwice = false;
  const outcome = await runOnPages(members, {
    lanes,
    circuitOf: (job) => job.circuit,
    run: async (job, lane) => {
      started.push({ id: job.id, lane });
      if (onLane.has(lane)) laneTwice = true;
      onLane.add(lane);
      onCircuit.set(job.circuit, (onCircuit.get(job.circuit) ?? 0) + 1);
      if (onCircuit.get(job.circuit)! > 1) sameCircuitAtOnce = true;
      most = Math.max(most, ++atOnce);
      try {
        await sleep(ms(job));
        const v = verdict(job);
        if (v === 'throw') throw new Error(`job ${job.id} failed`);
        return v;
      } finally {
        atOnce -= 1;
        onLane.delete(lane);
        onCircuit.set(job.circuit, onCircuit.get(job.circuit)! - 1);
      }
    },
  });
  return { outcome, started, most, sameCircuitAtOnce, laneTwice };
}

describe('runOnPages: a batch\'s jobs on the pages of its one session', () => {
  it('runs up to `lanes` jobs at once, each lane one job at a time, every job once', async () => {
    const members = jobs(['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J']);
    const t = await trace(members, 4, (j) => 5 + (j.id % 3) * 5);
    expect(t.most).to.equal(4);
    expect(t.laneTwice).to.equal(false);
    expect(t.started.map((s) => s.id).sort((a, b) => a - b)).to.deep.equal(members.map((m) => m.id));
    expect(new Set(t.started.map((s) => s.lane))).to.deep.equal(new Set([0, 1, 2, 3]));
    expect(t.outcome).to.deep.equal({ notStarted: [], stopped: false });
  });

  it('starts jobs in batch order', async () => {
    const members = jobs(['A', 'B', 'C', 'D', 'E', 'F']);
    const t = await trace(members, 2, () => 5);
    expect(t.started.slice(0, 2).map((s) => s.id)).to.deep.equal([0, 1]);
    expect(t.started.map((s) => s.id)).to.deep.equal([0, 1, 2, 3, 4, 5]);
  });

  it('never runs two jobs of one circuit at once: the second waits and later jobs go first', async () => {
    const members = jobs(['A', 'A', 'B', 'C', 'A']);
    const t = await trace(members, 4, (j) => (j.id === 0 ? 40 : 5));
    expect(t.sameCircuitAtOnce).to.equal(false);
    const order = t.started.map((s) => s.id);
    expect(order.slice(0, 3)).to.deep.equal([0, 2, 3]);
    expect(order).to.have.members([0, 1, 2, 3, 4]);
  });

  it('with one lane, runs the jobs one after another in order', async () => {
    const members = jobs(['A', 'B', 'A', 'C']);
    const t = await trace(members, 1, () => 2);
    expect(t.most).to.equal(1);
    expect(t.started.map((s) => s.id)).to.deep.equal([0, 1, 2, 3]);
  });

  it('starts nothing more after a lane says stop, lets the jobs on pages finish, and returns those never started', async () => {
    const members = jobs(['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H']);
    let finishedAfterStop = 0;
    let stoppedAt = 0;
    const t = await trace(
      members,
      3,
      (j) => (j.id === 1 ? 5 : 30),
      (j) => {
        if (j.id === 1) {
          stoppedAt = Date.now();
          return 'stop';
        }
        if (stoppedAt) finishedAfterStop += 1;
        return 'next';
      },
    );
    expect(t.outcome.stopped).to.equal(true);
    expect(t.outcome.error).to.equal(undefined);
    // Jobs 0 and 2 were on pages when job 1 stopped the schedule: they ran to their end.
    expect(finishedAfterStop).to.equal(2);
    expect(t.started.map((s) => s.id)).to.deep.equal([0, 1, 2]);
    expect(t.outcome.notStarted.map((m) => m.id)).to.deep.equal([3, 4, 5, 6, 7]);
  });

  it('keeps the first error, lets the other lanes finish, and never rejects', async () => {
    const members = jobs(['A', 'B', 'C', 'D', 'E']);
    const t = await trace(members, 2, (j) => (j.id === 0 ? 5 : 20), (j) => (j.id <= 1 ? 'throw' : 'next'));
    expect((t.outcome.error as Error).message).to.equal('job 0 failed');
    expect(t.started.map((s) => s.id)).to.deep.equal([0, 1]);
    expect(t.outcome.notStarted.map((m) => m.id)).to.deep.equal([2, 3, 4]);
  });

  it('copes with no jobs and with more lanes than jobs', async () => {
    expect(await runOnPages([], { lanes: 4, circuitOf: () => 'x', run: async () => 'next' })).to.deep.equal({ notStarted: [], stopped: false });
    const t = await trace(jobs(['A', 'B']), 8, () => 5);
    expect(t.most).to.equal(2);
  });
});

describe('runOnPages: jobs that must run alone (in hand when an earlier run died)', () => {
  it('runs such a job with no other job on the pages, and starts nothing beside it', async () => {
    const members = jobs(['A', 'B', 'C', 'D', 'E', 'F']);
    const suspects = new Set([0, 3]);
    const log: string[] = [];
    let atOnce = 0;
    let besideAlone = false;
    let aloneOn = false;
    await runOnPages(members, {
      lanes: 4,
      circuitOf: (j) => j.circuit,
      alone: (j) => suspects.has(j.id),
      run: async (j) => {
        atOnce += 1;
        if (suspects.has(j.id)) aloneOn = true;
        if (atOnce > 1 && aloneOn) besideAlone = true;
        log.push(`start ${j.id}`);
        await sleep(10);
        log.push(`end ${j.id}`);
        atOnce -= 1;
        if (suspects.has(j.id)) aloneOn = false;
        return 'next';
      },
    });
    expect(besideAlone).to.equal(false);
    expect(log.filter((l) => l.startsWith('start')).map((l) => Number(l.slice(6)))).to.have.members([0, 1, 2, 3, 4, 5]);
    // Job 0 came first and ran alone; the others went on pages together, job 3 alone at the end.
    expect(log.slice(0, 2)).to.deep.equal(['start 0', 'end 0']);
    expect(log.slice(-2)).to.deep.equal(['start 3', 'end 3']);
  });
});
