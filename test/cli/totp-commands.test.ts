import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'iovalkey';
import { generateSecret } from 'otplib';
import { formatTotpStats } from '../../src/cli/totp-commands.js';
import { TotpManager } from '../../src/totp/totp-manager.js';
import { sharedValkey, testRoot, uniquePrefix } from '../support/shared-services.js';

const run = promisify(execFile);

describe('rpa totp status', () => {
  it('prints the counters the TOTP manager recorded, as JSON and as a table', async () => {
    const valkey = await sharedValkey();
    const prefix = uniquePrefix('totp').replace(/[^A-Za-z0-9_-]/g, '');
    const redis = new Redis(valkey.url);
    const manager = new TotpManager({ redis, prefix, lookaheadSteps: { octotel: 1 } });
    try {
      const secret = generateSecret();
      await (await manager.acquire({ provider: 'octotel', account: 'cli', secret })).report('accepted');
      await (await manager.acquire({ provider: 'octotel', account: 'cli', secret })).report('refused');
    } finally {
      await manager.close();
      redis.disconnect();
    }
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      VALKEY_URL: valkey.url,
      QUEUE_PREFIX: prefix,
      RPA_DATA_DIR: mkdtempSync(join(testRoot(), 'cli-')),
    };
    const bin = join(process.cwd(), 'bin', 'rpa.mjs');
    const json = await run(process.execPath, [bin, 'totp', 'status', '--json'], { env });
    const parsed = JSON.parse(json.stdout) as { day: string; providers: unknown };
    expect(parsed.day).to.match(/^\d{4}-\d{2}-\d{2}$/);
    expect(parsed.providers).to.deep.equal({ octotel: { generated: 2, consumed: 2, accepted: 1, refused: 1 } });

    const table = await run(process.execPath, [bin, 'totp', 'status'], { env });
    expect(table.stdout).to.equal(formatTotpStats(parsed.day, { octotel: { generated: 2, consumed: 2, accepted: 1, refused: 1 } }));
    expect(table.stdout).to.match(/octotel\s+2\s+2\s+1\s+1/);

    const empty = await run(process.execPath, [bin, 'totp', 'status', '--day', '2001-01-01'], { env });
    expect(empty.stdout).to.include('no codes handed out');
  });
});
