import { expect } from 'chai';
import { splitOverSessions } from '../../src/queues/session-split.js';

const sum = (sizes: number[]) => sizes.reduce((a, b) => a + b, 0);

describe('splitOverSessions: a provider\'s waiting jobs over its free sessions', () => {
  it('gives every free session a batch instead of filling one first', () => {
    expect(splitOverSessions(100, 2, 100)).to.deep.equal([50, 50]);
    expect(splitOverSessions(100, 2, 100, 4)).to.deep.equal([50, 50]);
    expect(splitOverSessions(99, 2, 100)).to.deep.equal([50, 49]);
    expect(splitOverSessions(10, 3, 50)).to.deep.equal([4, 3, 3]);
  });

  it('keeps every batch at most the batch size, and takes no more than the free sessions hold', () => {
    expect(splitOverSessions(400, 2, 50)).to.deep.equal([50, 50]);
    expect(splitOverSessions(130, 3, 50)).to.deep.equal([44, 43, 43]);
    for (const [waiting, free, size, pages] of [[1, 1, 1, 1], [7, 2, 3, 1], [1000, 5, 50, 4], [51, 1, 50, 8], [3, 9, 2, 2]] as const) {
      const sizes = splitOverSessions(waiting, free, size, pages);
      expect(sizes.length, `${waiting}/${free}/${size}`).to.be.at.most(free);
      expect(Math.max(...sizes), `${waiting}/${free}/${size}`).to.be.at.most(size);
      expect(sum(sizes), `${waiting}/${free}/${size}`).to.equal(Math.min(waiting, free * size));
      expect(Math.max(...sizes) - Math.min(...sizes), 'as even as can be').to.be.at.most(1);
    }
  });

  it('does not open another session for jobs the pages of one can take at once', () => {
    expect(splitOverSessions(3, 2, 50, 4)).to.deep.equal([3]);
    expect(splitOverSessions(4, 2, 50, 4)).to.deep.equal([4]);
    expect(splitOverSessions(8, 2, 50, 4)).to.deep.equal([4, 4]);
    expect(splitOverSessions(9, 4, 50, 4)).to.deep.equal([5, 4]);
    // Unless the batch size forces it.
    expect(splitOverSessions(6, 3, 2, 4)).to.deep.equal([2, 2, 2]);
  });

  it('makes nothing when nothing waits or no session is free', () => {
    expect(splitOverSessions(0, 2, 50)).to.deep.equal([]);
    expect(splitOverSessions(10, 0, 50)).to.deep.equal([]);
    expect(splitOverSessions(10, -1, 50)).to.deep.equal([]);
  });
});
