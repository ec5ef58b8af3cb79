/**
 * How `waiting` jobs of one provider are split into batches over its `freeSessions` (each batch
 * one login, one session): as many batches as there are free sessions, as even as can be, each
 * at most `batchSize` jobs, instead of filling one batch first while the other sessions idle.
 *
 * A batch is not made smaller than `pagesPerSession` to open one more session: a session whose
 * pages are not all busy would serve those jobs without another login. So 3 jobs on 2 free
 * sessions of 4 pages are one batch (three pages of one login), 10 are two (5 + 5).
 *
 * Returns the batch sizes, largest first; their sum is min(waiting, freeSessions × batchSize).
 * Empty when nothing waits or no session is free.
 */
export function splitOverSessions(waiting: number, freeSessions: number, batchSize: number, pagesPerSession = 1): number[] {
  const free = Math.floor(freeSessions);
  const size = Math.max(1, Math.floor(batchSize));
  const take = Math.min(Math.floor(waiting), free * size);
  if (take <= 0 || free <= 0) return [];
  const fewest = Math.ceil(take / size);
  const worthIt = Math.floor(take / Math.max(1, Math.floor(pagesPerSession)));
  const batches = Math.min(free, Math.max(fewest, worthIt, 1));
  const base = Math.floor(take / batches);
  const larger = take % batches;
  return Array.from({ length: batches }, (_, i) => base + (i < larger ? 1 : 0));
}
