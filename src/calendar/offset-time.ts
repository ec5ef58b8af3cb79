/** An ISO 8601 date and time with its offset (`Z` or `±hh:mm`): a moment, not a wall-clock time. */
const OFFSET_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** The moment `text` names, or undefined when it is not an ISO time with an offset (or no real date). */
export function parseOffsetTime(text: string): Date | undefined {
  if (!OFFSET_TIME.test(text)) return undefined;
  const when = new Date(text);
  if (Number.isNaN(when.getTime())) return undefined;
  // Date accepts 2026-02-31 (as March 3rd): the date part must survive the round trip.
  const offset = /(Z|[+-]\d{2}:\d{2})$/.exec(text)![1]!;
  const minutes = offset === 'Z' ? 0 : (offset.startsWith('-') ? -1 : 1) * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6)));
  const local = new Date(when.getTime() + minutes * 60_000).toISOString().slice(0, 10);
  return local === text.slice(0, 10) ? when : undefined;
}
