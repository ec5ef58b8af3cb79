import cronParser from 'cron-parser';

// cron-parser is CommonJS (its functions hang off the default export); BullMQ's job schedulers
// run the schedules with the same version, so the fields read here are the ones that run.
const { parseExpression } = cronParser;

const DAY_S = 86_400;

/**
 * The shortest time, in seconds, between two consecutive runs of a cron expression (five
 * fields, or six with seconds), read from its time-of-day fields: the gaps between the times a
 * day runs at, and from a day's last run to the next day's first (as if every day ran, so a
 * pattern restricted to some days is judged as strictly as a daily one). In the schedule's wall
 * clock: a daylight-saving jump is not counted. Throws cron-parser's error for an expression it
 * cannot parse.
 */
export function shortestCronGapSeconds(cron: string): number {
  const { second, minute, hour } = parseExpression(cron).fields;
  const asc = (values: readonly (number | string)[]) => [...new Set(values.map(Number))].sort((a, b) => a - b);
  const hours = asc(hour);
  const minutes = asc(minute);
  const seconds = asc(second);
  let shortest = DAY_S;
  let first: number | undefined;
  let previous: number | undefined;
  for (const h of hours) {
    for (const m of minutes) {
      for (const s of seconds) {
        const at = h * 3_600 + m * 60 + s;
        if (previous !== undefined) shortest = Math.min(shortest, at - previous);
        first ??= at;
        previous = at;
        // Nothing is shorter than a second: no need to list all 86,400 of `* * * * * *`.
        if (shortest <= 1) return shortest;
      }
    }
  }
  if (first !== undefined && previous !== undefined) shortest = Math.min(shortest, DAY_S - previous + first);
  return shortest;
}
