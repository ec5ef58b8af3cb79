import { expect } from 'chai';
import { inBusinessHours, parseBusinessHours } from '../../src/calendar/business-hours.js';
import { isRpaError } from '../../src/errors/failures.js';

const at = (iso: string) => new Date(iso);

describe('business hours (cron expressions evaluated by cron-parser, fixed clocks)', () => {
  const weekdays = parseBusinessHours('mon-fri 07:00-19:00', 'Africa/Johannesburg'); // UTC+2, no DST

  it('is one cron expression that opens each window and one that closes it', () => {
    expect(weekdays.windows).to.deep.equal([{ opens: '0 7 * * 1,2,3,4,5', closes: '0 19 * * 1,2,3,4,5' }]);
    expect(parseBusinessHours('fri-mon 22:00-06:00', 'UTC').windows).to.deep.equal([{ opens: '0 22 * * 0,1,5,6', closes: '0 6 * * 0,1,2,6' }]);
  });

  it('is open on weekdays inside the window, in the configured time zone', () => {
    expect(inBusinessHours(weekdays, at('2026-11-23T05:00:00Z'))).to.equal(true); // Mon 07:00 local: the start counts
    expect(inBusinessHours(weekdays, at('2026-11-23T04:59:00Z'))).to.equal(false); // Mon 06:59 local
    expect(inBusinessHours(weekdays, at('2026-11-23T16:59:00Z'))).to.equal(true); // Mon 18:59 local
    expect(inBusinessHours(weekdays, at('2026-11-23T17:00:00Z'))).to.equal(false); // Mon 19:00 local: the end does not
    expect(inBusinessHours(weekdays, at('2026-11-27T10:00:00Z'))).to.equal(true); // Fri
    expect(inBusinessHours(weekdays, at('2026-11-28T10:00:00Z'))).to.equal(false); // Sat
    expect(inBusinessHours(weekdays, at('2026-11-22T10:00:00Z'))).to.equal(false); // Sun
  });

  it('follows daylight saving time where the zone has it', () => {
    const london = parseBusinessHours('mon-fri 09:00-17:00', 'Europe/London');
    expect(inBusinessHours(london, at('2026-07-06T08:30:00Z'))).to.equal(true); // Mon 09:30 BST
    expect(inBusinessHours(london, at('2026-12-07T08:30:00Z'))).to.equal(false); // Mon 08:30 GMT
    expect(inBusinessHours(london, at('2026-12-07T09:30:00Z'))).to.equal(true); // Mon 09:30 GMT
  });

  it('handles a window past midnight, a range that wraps the week, 24:00 and several windows', () => {
    const nights = parseBusinessHours('fri-mon 22:00-06:00', 'UTC');
    expect(inBusinessHours(nights, at('2026-11-27T23:00:00Z'))).to.equal(true); // Fri 23:00
    expect(inBusinessHours(nights, at('2026-11-28T05:59:00Z'))).to.equal(true); // Sat 05:59, Fri's night
    expect(inBusinessHours(nights, at('2026-11-25T23:00:00Z'))).to.equal(false); // Wed 23:00
    expect(inBusinessHours(nights, at('2026-11-25T03:00:00Z'))).to.equal(false); // Wed 03:00, Tue's night
    expect(inBusinessHours(nights, at('2026-11-24T03:00:00Z'))).to.equal(true); // Tue 03:00, Mon's night
    const always = parseBusinessHours('mon-sun 00:00-24:00', 'Africa/Johannesburg');
    for (const iso of ['2026-11-22T21:59:59Z', '2026-11-22T22:00:00Z', '2026-11-25T12:34:00Z']) expect(inBusinessHours(always, at(iso)), iso).to.equal(true);
    const split = parseBusinessHours('mon-fri 07:00-19:00, sat 08:00-12:00', 'UTC');
    expect(inBusinessHours(split, at('2026-11-28T09:00:00Z'))).to.equal(true); // Sat 09:00
    expect(inBusinessHours(split, at('2026-11-28T13:00:00Z'))).to.equal(false); // Sat 13:00
    expect(inBusinessHours(split, at('2026-11-27T18:00:00Z'))).to.equal(true); // Fri 18:00
  });

  it('is never open without business hours', () => {
    expect(inBusinessHours(undefined, at('2026-11-23T10:00:00Z'))).to.equal(false);
  });

  it('rejects malformed hours and unknown time zones', () => {
    for (const bad of ['weekdays 7-19', 'mon-fri 25:00-19:00', 'xyz 07:00-19:00', 'mon 07:60-08:00', 'mon 24:00-08:00', '']) {
      expect(() => parseBusinessHours(bad, 'UTC'), bad).to.throw().that.satisfies((e: unknown) => isRpaError(e, 'CONFIG_INVALID'));
    }
    expect(() => parseBusinessHours('mon-fri 07:00-19:00', 'Mars/Olympus')).to.throw(/BROWSER_TIME_ZONE/);
  });
});
