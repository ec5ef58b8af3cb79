import { expect } from 'chai';
import { generateSync } from 'otplib';
import { decodeBase32, totpCodeForStep, totpStep, TotpVerifier } from '../../../src/portals/core/totp.js';

const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';

describe('portals/core/totp', function () {
  it('matches the RFC 6238 SHA-1 test vectors (8-digit values truncated to 6)', function () {
    const key = Buffer.from('12345678901234567890');
    const vectors: Array<[number, string]> = [
      [59, '94287082'],
      [1111111109, '07081804'],
      [1111111111, '14050471'],
      [1234567890, '89005924'],
      [2000000000, '69279037'],
    ];
    for (const [time, eight] of vectors) expect(totpCodeForStep(key, Math.floor(time / 30)), String(time)).to.equal(eight.slice(-6));
  });

  it('agrees with otplib on a base32 secret for many steps', function () {
    const key = decodeBase32(SECRET);
    for (let i = 0; i < 50; i++) {
      const epoch = 1_700_000_000 + i * 977;
      expect(totpCodeForStep(key, Math.floor(epoch / 30))).to.equal(generateSync({ secret: SECRET, epoch }));
    }
  });

  it('decodes base32 case-insensitively, ignoring padding, and refuses other characters', function () {
    expect(decodeBase32('MZXW6YTBOI======').toString()).to.equal('foobar');
    expect(decodeBase32('mzxw6ytboi').toString()).to.equal('foobar');
    expect(() => decodeBase32('MZXW1')).to.throw(/base32/);
  });

  it('accepts the current step ± window once, refuses a replay and codes outside the window', function () {
    const key = decodeBase32(SECRET);
    const at = 1_700_000_015_000;
    const now = totpStep(at);
    const verifier = new TotpVerifier(SECRET);
    expect(verifier.verify(totpCodeForStep(key, now), 1, at)).to.deep.equal({ kind: 'ok', step: now });
    expect(verifier.verify(totpCodeForStep(key, now), 1, at)).to.deep.equal({ kind: 'reused', step: now });
    expect(verifier.verify(totpCodeForStep(key, now - 1), 1, at)).to.deep.equal({ kind: 'ok', step: now - 1 });
    expect(verifier.verify(totpCodeForStep(key, now + 1), 1, at)).to.deep.equal({ kind: 'ok', step: now + 1 });
    expect(verifier.verify(totpCodeForStep(key, now + 2), 1, at).kind).to.equal('invalid');
    expect(verifier.verify(totpCodeForStep(key, now + 2), 2, at).kind).to.equal('ok');
    expect(verifier.verify('12345', 1, at).kind).to.equal('invalid');
    expect(verifier.verify('abcdef', 1, at).kind).to.equal('invalid');
    verifier.clear();
    expect(verifier.verify(totpCodeForStep(key, now), 0, at).kind).to.equal('ok');
  });
});
