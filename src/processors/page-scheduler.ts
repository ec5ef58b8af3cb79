/** What a lane's work says once a job is done: take the next one, or stop the batch. */
export type LaneVerdict = 'next' | 'stop';

export interface PageSchedule<M> {
  /** Most jobs at once: the pages of the session. */
  lanes: number;
  /** The circuit a job works on: two jobs of one circuit never run at once. */
  circuitOf: (member: M) => string;
  /**
   * Runs one job on the page of `lane`; 'stop' (or a throw) ends the schedule. `rest` is what no
   * lane has taken yet (as it is at the moment this job was taken).
   */
  run: (member: M, lane: number, rest: readonly M[]) => Promise<LaneVerdict>;
  /**
   * Jobs that must run with no other job on the session's pages: nothing else starts while one
   * runs, and it starts only once the others on pages are done (later jobs may go first).
   */
  alone?: (member: M) => boolean;
}

export interface ScheduleOutcome<M> {
  /** Members never handed to a lane (the schedule stopped first). */
  notStarted: M[];
  /** Whether some lane said 'stop'. */
  stopped: boolean;
  /** The first error a lane threw, if any (the others' are dropped: the first one ends the batch). */
  error?: unknown;
}

/**
 * Runs a batch's jobs on the pages of its session: up to `lanes` at once, in batch order, except
 * that a job whose circuit another lane is working on waits and later jobs go first, and a job
 * that must run `alone` waits for the pages to be free and keeps them free. Once a lane
 * says 'stop' or throws, no job is started any more; the jobs already on a page are let finish
 * (each stops at its own next guarded step: the run's fencing, the intent log), and only then
 * does this resolve. It never rejects: what went wrong is in the outcome.
 */
export async function runOnPages<M>(members: readonly M[], schedule: PageSchedule<M>): Promise<ScheduleOutcome<M>> {
  const waiting = [...members];
  const busyCircuits = new Set<string>();
  const freeLanes = Array.from({ length: Math.max(1, Math.floor(schedule.lanes)) }, (_, i) => i).reverse();
  const running = new Set<Promise<void>>();
  let stopped = false;
  let failed = false;
  let error: unknown;

  const alone = schedule.alone ?? (() => false);
  let aloneRunning = false;
  const startable = (): number =>
    waiting.findIndex((m) => !busyCircuits.has(schedule.circuitOf(m)) && (!alone(m) || running.size === 0));
  for (;;) {
    // Fill every free lane with the first job whose circuit no lane holds (a job alone: none busy).
    while (!stopped && !failed && !aloneRunning && freeLanes.length > 0) {
      const index = startable();
      if (index < 0) break;
      const [member] = waiting.splice(index, 1) as [M];
      if (alone(member)) aloneRunning = true;
      const circuit = schedule.circuitOf(member);
      const lane = freeLanes.pop()!;
      busyCircuits.add(circuit);
      const work: Promise<void> = (async () => {
        try {
          if ((await schedule.run(member, lane, [...waiting])) === 'stop') stopped = true;
        } catch (thrown) {
          if (!failed) error = thrown;
          failed = true;
        } finally {
          busyCircuits.delete(circuit);
          freeLanes.push(lane);
          if (alone(member)) aloneRunning = false;
        }
      })().finally(() => running.delete(work));
      running.add(work);
    }
    if (running.size === 0) break;
    // Wait for any lane to finish, then look again.
    await Promise.race(running);
  }
  return { notStarted: waiting, stopped, ...(failed ? { error } : {}) };
}
