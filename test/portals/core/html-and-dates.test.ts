import { expect } from 'chai';
import { escapeHtml, html, raw } from '../../../src/portals/core/html.js';
import { effectiveDateError, formatDmyDate, isPast, parseDmyDate, parseIsoDate, todayLocal } from '../../../src/portals/core/local-date.js';
import { CsrfTokens } from '../../../src/portals/metrofiber/csrf-tokens.js';

describe('portals/core html, dates and MetroFiber CSRF tokens', function () {
  it('escapes every interpolation unless it is SafeHtml', function () {
    expect(escapeHtml(`<a href="x">'&'</a>`)).to.equal('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    const name = '<script>alert(1)</script>';
    expect(html`<p title="${name}">${name}${raw('<br>')}${[html`<i>${'&'}</i>`, 'x<']}</p>`.value).to.equal(
      '<p title="&lt;script&gt;alert(1)&lt;/script&gt;">&lt;script&gt;alert(1)&lt;/script&gt;<br><i>&amp;</i>x&lt;</p>',
    );
    expect(html`${undefined}${null}${false}${0}`.value).to.equal('0');
  });

  it('parses ISO and DD/MM/YYYY dates, refusing impossible ones', function () {
    expect(parseIsoDate('2028-02-29')).to.deep.equal({ year: 2028, month: 2, day: 29 });
    expect(parseIsoDate('2027-02-29')).to.equal(undefined);
    expect(parseIsoDate('2027-13-01')).to.equal(undefined);
    expect(parseIsoDate('2027-1-01')).to.equal(undefined);
    expect(parseDmyDate('31/12/2027')).to.deep.equal({ year: 2027, month: 12, day: 31 });
    expect(parseDmyDate('31/11/2027')).to.equal(undefined);
    expect(parseDmyDate('2027-12-31')).to.equal(undefined);
    expect(formatDmyDate({ year: 2027, month: 1, day: 2 })).to.equal('02/01/2027');
  });

  it('uses the local date as today: today is allowed, yesterday is past', function () {
    const now = new Date(2027, 5, 15, 0, 30);
    expect(todayLocal(now)).to.deep.equal({ year: 2027, month: 6, day: 15 });
    expect(isPast({ year: 2027, month: 6, day: 15 }, now)).to.equal(false);
    expect(isPast({ year: 2027, month: 6, day: 14 }, now)).to.equal(true);
    expect(effectiveDateError('', parseIsoDate, 'YYYY-MM-DD')).to.be.a('string');
    expect(effectiveDateError('2000-01-01', parseIsoDate, 'YYYY-MM-DD')).to.equal('Effective date cannot be in the past');
  });

  it('binds CSRF tokens to page and session; rotation invalidates them', function () {
    const tokens = new CsrfTokens();
    const t = tokens.issue('cancel:MFN-0000-0001', 'session-a');
    expect(tokens.verify(t, 'cancel:MFN-0000-0001', 'session-a')).to.equal(true);
    expect(tokens.verify(t, 'cancel:MFN-0000-0002', 'session-a')).to.equal(false);
    expect(tokens.verify(t, 'cancel:MFN-0000-0001', 'session-b')).to.equal(false);
    expect(tokens.verify(t, 'notice', 'session-a')).to.equal(false);
    expect(tokens.verify(undefined, 'login')).to.equal(false);
    expect(tokens.verify(`${t}.x`, 'cancel:MFN-0000-0001', 'session-a')).to.equal(false);
    tokens.rotate();
    expect(tokens.verify(t, 'cancel:MFN-0000-0001', 'session-a')).to.equal(false);
  });
});
