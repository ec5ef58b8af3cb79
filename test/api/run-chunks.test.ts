import { expect } from 'chai';
import { runChunks } from '../../src/queues/job-enqueuer.js';

const later = <T>(ms: number, value?: T) => new Promise<T | undefined>((resolve) => setTimeout(() => resolve(value), ms));

describe('runChunks (the enqueuer\'s chunked addBulk)', () => {
  it('runs every task, never more than inFlight at once', async () => {
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    const tasks = Array.from({ length: 7 }, (_, i) => async () => {
      running += 1;
      peak = Math.max(peak, running);
      await later(5 + (i % 3) * 5);
      running -= 1;
      done.push(i);
    });
    await runChunks(tasks, { inFlight: 2, timeoutMs: 1_000, what: 'test' });
    expect(done).to.have.members([0, 1, 2, 3, 4, 5, 6]);
    expect(peak).to.equal(2);
  });

  it('gives up when no task finishes for timeoutMs, and starts none after', async () => {
    const started: number[] = [];
    const tasks = [0, 1, 2].map((i) => () => {
      started.push(i);
      return i === 0 ? later(10) : new Promise(() => undefined);
    });
    const error = await runChunks(tasks, { inFlight: 1, timeoutMs: 100, what: 'enqueue to Valkey' }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).to.equal('enqueue to Valkey made no progress for 100 ms');
    await later(50);
    expect(started).to.deep.equal([0, 1]);
  });

  it('keeps going while tasks finish, even when the whole takes longer than timeoutMs', async () => {
    let finished = 0;
    const tasks = Array.from({ length: 6 }, () => async () => {
      await later(40);
      finished += 1;
    });
    await runChunks(tasks, { inFlight: 1, timeoutMs: 100, what: 'test' });
    expect(finished).to.equal(6);
  });

  it('rejects with the first failure', async () => {
    const boom = new Error('Valkey said no');
    const error = await runChunks([() => later(5), () => Promise.reject(boom), () => later(5)], { inFlight: 3, timeoutMs: 1_000, what: 'test' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.equal(boom);
  });

  it('resolves at once with no tasks', async () => {
    expect(await runChunks([], { inFlight: 2, timeoutMs: 10, what: 'test' })).to.equal(undefined);
  });
});
