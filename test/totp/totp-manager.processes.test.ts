import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { generate, generateSecret } from 'otplib';
import { TOTP_PERIOD_MS } from '../../src/totp/totp-code.js';
import { sharedValkey, uniquePrefix } from '../support/shared-services.js';

const run = promisify(execFile);

describe('TotpManager across processes', () => {
  it('gives concurrent acquires from two OS processes distinct consecutive steps', async () => {
    const valkey = await sharedValkey();
    const secret = generateSecret();
    const perProcess = 4;
    const env = {
      PATH: process.env.PATH,
      VALKEY_URL: valkey.url,
      TOTP_PREFIX: uniquePrefix('totp'),
      TOTP_SECRET: secret,
      COUNT: String(perProcess),
      // Every step the two processes can take is usable at once: no 30 s waits.
      LOOKAHEAD: String(2 * perProcess - 1),
      // Both start acquiring at the same moment, once both are up.
      START_AT: String(Date.now() + 3_000),
    };
    const child = join(process.cwd(), 'dist', 'test', 'totp', 'fixtures', 'acquire-steps.js');
    const outputs = await Promise.all([0, 1].map(() => run(process.execPath, [child], { env })));
    const leases = outputs.flatMap((o) => JSON.parse(o.stdout) as Array<{ step: number; code: string }>);
    const steps = leases.map((l) => l.step).sort((a, b) => a - b);
    expect(steps).to.deep.equal(Array.from({ length: 2 * perProcess }, (_, i) => steps[0]! + i));
    for (const lease of leases) expect(lease.code).to.equal(await generate({ secret, epoch: (lease.step * TOTP_PERIOD_MS) / 1000 }));
  });
});
