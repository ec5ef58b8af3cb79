import { expect } from 'chai';
import { parseBusinessHours } from '../../src/calendar/business-hours.js';
import { parseMaintenanceText, windowState, windowsFromJson, windowsToJson, type ProviderWindows } from '../../src/calendar/provider-windows.js';
import { isRpaError } from '../../src/errors/failures.js';

const ZONE = 'Africa/Johannesburg'; // UTC+2, no daylight saving
const at = (iso: string) => new Date(iso);

describe('provider windows (maintenance and business hours)', () => {
  const sundays: ProviderWindows = { timeZone: ZONE, maintenance: parseMaintenanceText('0 2 * * sun for 2h', ZONE, 'OPENSERVE_MAINTENANCE_WINDOWS') };

  it('is closed inside a recurring window, in the provider time zone, and says until when', () => {
    // Sunday 2026-12-06 02:30 in Johannesburg is 00:30 UTC.
    const state = windowState(sundays, at('2026-12-06T00:30:00Z'));
    expect(state).to.deep.include({ open: false, reason: 'maintenance' });
    expect(state.open === false && state.until.toISOString()).to.equal('2026-12-06T02:00:00.000Z');
  });

  it('is open outside it, and names the next closure', () => {
    const state = windowState(sundays, at('2026-12-05T10:00:00Z'));
    expect(state.open).to.equal(true);
    expect(state.open && state.closesAt?.toISOString()).to.equal('2026-12-06T00:00:00.000Z');
    expect(state.open && state.closesFor).to.equal('maintenance');
  });

  it('walks from a window that ends outside business hours to the next opening', () => {
    const w: ProviderWindows = {
      timeZone: ZONE,
      businessHours: parseBusinessHours('mon-fri 07:00-19:00', ZONE),
      maintenance: parseMaintenanceText('2026-12-04T18:00:00+02:00/2026-12-04T20:00:00+02:00', ZONE, 'X'),
    };
    // Friday 18:30: in maintenance, then the weekend: open again Monday 07:00 (05:00 UTC).
    const state = windowState(w, at('2026-12-04T16:30:00Z'));
    expect(state).to.deep.include({ open: false, reason: 'maintenance' });
    expect(state.open === false && state.until.toISOString()).to.equal('2026-12-07T05:00:00.000Z');
    expect(windowState(w, at('2026-12-05T10:00:00Z'))).to.deep.include({ open: false, reason: 'outside_business_hours' });
    const monday = windowState(w, at('2026-12-07T06:00:00Z'));
    expect(monday.open && monday.closesAt?.toISOString()).to.equal('2026-12-07T17:00:00.000Z');
    expect(monday.open && monday.closesFor).to.equal('outside_business_hours');
  });

  it('hours around the clock never close', () => {
    const w: ProviderWindows = { timeZone: ZONE, businessHours: parseBusinessHours('mon-sun 00:00-24:00', ZONE), maintenance: [] };
    expect(windowState(w, at('2026-12-05T21:59:00Z'))).to.deep.equal({ open: true });
  });

  it('round-trips through its JSON form', () => {
    const json = {
      time_zone: ZONE,
      business_hours: 'mon-fri 07:00-19:00',
      maintenance: [
        { cron: '0 2 * * sun', duration: '2h', label: 'weekly' },
        { starts_at: '2026-12-24T22:00:00.000Z', ends_at: '2026-12-25T02:00:00.000Z' },
      ],
    };
    expect(windowsToJson(windowsFromJson(json, 'UTC'))).to.deep.equal(json);
  });

  it('refuses bad windows naming the field and why', () => {
    const cases: Array<[unknown, string, RegExp]> = [
      [{ maintenance: [{ cron: '0 2 * *', duration: '2h' }] }, 'maintenance[0].cron', /5 fields/],
      [{ maintenance: [{ cron: '0 2 * * sun', duration: 'soon' }] }, 'maintenance[0].duration', /duration/],
      [{ maintenance: [{ cron: '0 2 * * sun', duration: '9d' }] }, 'maintenance[0].duration', /at most 7 days/],
      [{ maintenance: [{ starts_at: '2026-12-24 22:00', ends_at: '2026-12-25T02:00:00Z' }] }, 'maintenance[0].starts_at', /offset/],
      [{ maintenance: [{ starts_at: '2026-12-25T02:00:00Z', ends_at: '2026-12-24T22:00:00Z' }] }, 'maintenance[0].ends_at', /end after/],
      [{ maintenance: [{ cron: '0 2 * * sun', duration: '2h', starts_at: '2026-12-25T02:00:00Z' }] }, 'maintenance[0]', /either/],
      [{ time_zone: 'Mars/Olympus', maintenance: [] }, 'time_zone', /IANA/],
      [{ business_hours: 'weekdays', maintenance: [] }, 'business_hours', /mon-fri/],
      [{ maintenance: [], when: 'now' }, 'when', /not a field/],
      [[], 'body', /JSON object/],
    ];
    for (const [body, field, why] of cases) {
      let caught: unknown;
      try {
        windowsFromJson(body, ZONE);
      } catch (error) {
        caught = error;
      }
      expect(isRpaError(caught, 'VALIDATION_FAILED'), JSON.stringify(body)).to.equal(true);
      expect((caught as { field?: string }).field, JSON.stringify(body)).to.equal(field);
      expect((caught as Error).message, JSON.stringify(body)).to.match(why);
    }
  });

  it('reads the setting text, refusing what it cannot parse with the setting named', () => {
    expect(parseMaintenanceText('0 2 * * sun for 90m; 2026-12-24T22:00:00+02:00/2026-12-25T02:00:00+02:00', ZONE, 'S')).to.have.length(2);
    expect(() => parseMaintenanceText('sundays at two', ZONE, 'OPENSERVE_MAINTENANCE_WINDOWS'))
      .to.throw(/OPENSERVE_MAINTENANCE_WINDOWS/)
      .that.satisfies((e: unknown) => isRpaError(e, 'CONFIG_INVALID'));
  });
});
