import { expect } from 'chai';
import { parseConfigPatch } from '../../../src/portals/core/portal-config.js';

describe('portals/core/portal-config', function () {
  it('accepts every known key in range', function () {
    expect(parseConfigPatch({ latency_ms: 0, login_delay_ms: 5000, error_rate: 1, session_idle_s: 1, max_sessions: 1, totp_window: 0 })).to.deep.equal({
      ok: true,
      patch: { latency_ms: 0, login_delay_ms: 5000, error_rate: 1, session_idle_s: 1, max_sessions: 1, totp_window: 0 },
    });
    expect(parseConfigPatch({})).to.deep.equal({ ok: true, patch: {} });
  });

  it('refuses unknown keys, non-numbers, fractions where whole numbers are needed, and out-of-range values', function () {
    for (const body of [{ x: 1 }, { error_rate: '0.5' }, { max_sessions: 1.5 }, { error_rate: 1.01 }, { latency_ms: -1 }, { totp_window: 11 }, { session_idle_s: 0 }, { latency_ms: Number.NaN }, null, [], 'x']) {
      const result = parseConfigPatch(body);
      expect(result.ok, JSON.stringify(body)).to.equal(false);
    }
    expect(parseConfigPatch({ toString: 1 })).to.deep.equal({ ok: false, error: 'unknown config key "toString"' });
  });
});
