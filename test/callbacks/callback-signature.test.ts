import { expect } from 'chai';
import { signCallback, verifyCallbackSignature } from '../../src/callbacks/callback-signature.js';
import { CALLBACK_RETRY, callbackBackoffDelay, callbackRetrySchedule } from '../../src/callbacks/callback-retry-policy.js';

describe('callback signature', () => {
  const body = '{"a":1}';

  it('matches an independent HMAC-SHA256 (openssl dgst -sha256 -hmac s3cret over "1700000000.{\\"a\\":1}")', () => {
    expect(signCallback(body, 's3cret', 1_700_000_000)).to.equal('t=1700000000,v1=1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940');
  });

  it('verifies its own signature, and nothing else', () => {
    const now = 1_700_000_000;
    const header = signCallback(body, 's3cret', now);
    expect(verifyCallbackSignature(header, body, 's3cret', 300, now)).to.equal(true);
    expect(verifyCallbackSignature(header, body, 'other-secret', 300, now)).to.equal(false);
    expect(verifyCallbackSignature(header, '{"a":2}', 's3cret', 300, now)).to.equal(false);
    expect(verifyCallbackSignature(header.replace('t=1700000000', 't=1700000001'), body, 's3cret', 300, now)).to.equal(false);
    expect(verifyCallbackSignature('', body, 's3cret', 300, now)).to.equal(false);
    expect(verifyCallbackSignature('t=1700000000', body, 's3cret', 300, now)).to.equal(false);
    expect(verifyCallbackSignature('t=1700000000,v1=abc', body, 's3cret', 300, now)).to.equal(false);
    expect(verifyCallbackSignature(header, body, '', 300, now)).to.equal(false);
  });

  it('refuses a timestamp outside the tolerance (replay)', () => {
    const header = signCallback(body, 's3cret', 1_700_000_000);
    expect(verifyCallbackSignature(header, body, 's3cret', 300, 1_700_000_300)).to.equal(true);
    expect(verifyCallbackSignature(header, body, 's3cret', 300, 1_700_000_301)).to.equal(false);
    expect(verifyCallbackSignature(header, body, 's3cret', 300, 1_699_999_699)).to.equal(false);
  });

  it('accepts any of several v1 values (secret rotation)', () => {
    const now = 1_700_000_000;
    const fresh = signCallback(body, 'new-secret', now).split(',')[1];
    const old = signCallback(body, 'old-secret', now);
    expect(verifyCallbackSignature(`${old},${fresh}`, body, 'new-secret', 300, now)).to.equal(true);
    expect(verifyCallbackSignature(`${old},${fresh}`, body, 'old-secret', 300, now)).to.equal(true);
    expect(verifyCallbackSignature(`${old},${fresh}`, body, 'third-secret', 300, now)).to.equal(false);
  });

  it('refuses to sign with an empty secret', () => {
    expect(() => signCallback(body, '')).to.throw(/CALLBACK_SECRET/);
  });
});

describe('callback retry policy', () => {
  it('tries at least 8 times over at least an hour, even with the most jitter', () => {
    expect(CALLBACK_RETRY.attempts).to.be.at.least(8);
    const nominal = callbackRetrySchedule();
    expect(nominal).to.have.length(CALLBACK_RETRY.attempts - 1);
    expect(nominal.slice(0, 3)).to.deep.equal([30_000, 60_000, 120_000]);
    const total = nominal.reduce((a, b) => a + b, 0);
    expect(total).to.equal(15_330_000);
    expect(total * (1 - CALLBACK_RETRY.backoff.jitter)).to.be.at.least(3_600_000);
  });

  it('delays stay within [1 - jitter, 1] of the nominal wait, differ between jobs, and repeat for the same job and attempt', () => {
    const nominal = callbackRetrySchedule();
    const seen = new Set<number>();
    for (let job = 0; job < 50; job++) {
      for (let attempt = 1; attempt < CALLBACK_RETRY.attempts; attempt++) {
        const delay = callbackBackoffDelay(attempt, `callback-${job}`);
        expect(delay).to.be.within(Math.floor(nominal[attempt - 1]! * (1 - CALLBACK_RETRY.backoff.jitter)), nominal[attempt - 1]!);
        expect(callbackBackoffDelay(attempt, `callback-${job}`)).to.equal(delay);
        if (attempt === 1) seen.add(delay);
      }
    }
    expect(seen.size).to.be.greaterThan(40);
  });
});
