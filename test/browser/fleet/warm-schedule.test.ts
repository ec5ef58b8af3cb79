import { expect } from 'chai';
import { loadConfig } from '../../../src/config/config.js';
import { parseBusinessHours } from '../../../src/calendar/business-hours.js';
import { WarmSchedule, type UpcomingRun } from '../../../src/browser/fleet/warm-schedule.js';

const at = (iso: string) => new Date(iso);

describe('warm schedule: pools to keep with nothing queued (fixed clocks)', () => {
  const hours = parseBusinessHours('mon-fri 07:00-19:00', 'Africa/Johannesburg');

  it('keeps BROWSER_WARM_MIN in business hours and none outside them', async () => {
    const warm = new WarmSchedule({ warmMin: 2, businessHours: hours, prewarmMs: 600_000, jobsPerPool: 20 });
    expect(await warm.minimum(at('2026-11-23T08:00:00Z'))).to.deep.equal({ pools: 2, businessHours: true, schedules: [] }); // Mon 10:00 SAST
    expect(await warm.minimum(at('2026-11-23T18:00:00Z'))).to.deep.equal({ pools: 0, businessHours: false, schedules: [] }); // Mon 20:00 SAST
    expect((await new WarmSchedule({ warmMin: 2, prewarmMs: 600_000, jobsPerPool: 20 }).minimum(at('2026-11-23T08:00:00Z'))).pools, 'no business hours set').to.equal(0);
  });

  it('warms pools ahead of each schedule due within the lead time, as many as its jobs want', async () => {
    const asked: [string, string][] = [];
    const runs: UpcomingRun[] = [
      { scheduleId: '7', at: at('2026-11-23T02:05:00Z'), jobCount: 45 },
      { scheduleId: '9', at: at('2026-11-23T02:09:00Z'), jobCount: 3 },
    ];
    const warm = new WarmSchedule({
      warmMin: 1,
      businessHours: hours,
      prewarmMs: 600_000,
      jobsPerPool: 20,
      upcomingRuns: async (from, until) => {
        asked.push([from.toISOString(), until.toISOString()]);
        return runs.filter((r) => r.at >= from && r.at <= until);
      },
    });
    // Mon 04:00 SAST, outside business hours: both runs are within the next 10 minutes.
    expect(await warm.minimum(at('2026-11-23T02:00:00Z'))).to.deep.equal({ pools: 4, businessHours: false, schedules: ['7', '9'] }); // ceil(45/20) + 1
    expect(asked).to.deep.equal([['2026-11-23T02:00:00.000Z', '2026-11-23T02:10:00.000Z']]);
    // Earlier than the lead time: nothing yet.
    expect((await warm.minimum(at('2026-11-23T01:50:00Z'))).pools).to.equal(0);
  });

  it('reads BROWSER_WARM_MIN, BROWSER_PREWARM_MS and BROWSER_TIME_ZONE (default Africa/Johannesburg) from the settings', () => {
    const config = loadConfig({ env: { BROWSER_WARM_MIN: '3', BROWSER_PREWARM_MS: '120000', BROWSER_BUSINESS_HOURS: 'sat 08:00-12:00' } });
    expect(config.browserManager).to.include({ warmMin: 3, prewarmMs: 120_000, timeZone: 'Africa/Johannesburg', businessHours: 'sat 08:00-12:00' });
    expect(loadConfig({ env: {} }).browserManager).to.include({ warmMin: 1, prewarmMs: 600_000 });
    expect(() => loadConfig({ env: { BROWSER_BUSINESS_HOURS: 'always' } })).to.throw(/BROWSER_BUSINESS_HOURS/);
    expect(() => loadConfig({ env: { BROWSER_WARM_POOLS: '1' } }), 'the old name is refused, not ignored').to.throw(/BROWSER_WARM_POOLS/);
    expect(() => loadConfig({ env: { BROWSER_BROKER_URL: 'http://127.0.0.1:1' } })).to.throw(/BROWSER_BROKER_URL/);
  });
});
