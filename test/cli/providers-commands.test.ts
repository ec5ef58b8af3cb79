import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pauseProvider, providerEvents, recordLoginRefusal } from '../../src/db/provider-store.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { testRoot } from '../support/shared-services.js';

const exec = promisify(execFile);

describe('rpa providers status|resume|windows', () => {
  let database: TestDatabase;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    database = await createTestDatabase();
    env = { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: database.url, RPA_DATA_DIR: mkdtempSync(join(testRoot(), 'providers-')) };
  });
  after(async () => database.drop());
  const rpa = async (...args: string[]) => {
    try {
      const { stdout } = await exec(process.execPath, [join(process.cwd(), 'bin', 'rpa.mjs'), ...args], { env });
      return { code: 0, stdout };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  it('lists every provider, says which is paused, why and since when, and resumes it once', async () => {
    expect(await recordLoginRefusal(database.db, 'evotel', 'mark-a', 2, 'Evotel refused the sign-in')).to.deep.equal({ refusals: 1, paused: false });
    // Refusals of other credentials do not add up: a new password starts the count again.
    expect(await recordLoginRefusal(database.db, 'evotel', 'mark-b', 2, 'Evotel refused the sign-in')).to.deep.equal({ refusals: 1, paused: false });
    expect(await recordLoginRefusal(database.db, 'evotel', 'mark-b', 2, 'Evotel refused the sign-in')).to.deep.equal({ refusals: 2, paused: true });
    await pauseProvider(database.db, 'openserve', { reason: 'config_invalid', message: 'OPENSERVE_URL: no portal URL configured', actor: 'test' });

    const status = JSON.parse((await rpa('providers', 'status', '--json')).stdout).providers as Array<Record<string, unknown>>;
    expect(status.map((p) => p.provider)).to.have.members(['octotel', 'openserve', 'metrofiber', 'evotel']);
    expect(status.find((p) => p.provider === 'evotel')).to.include({ state: 'paused', reason: 'login_refused', refused_logins: 2 });
    expect(status.find((p) => p.provider === 'openserve')).to.include({ state: 'paused', reason: 'config_invalid' });
    expect(status.find((p) => p.provider === 'octotel')).to.include({ state: 'running', reason: null });
    expect((await rpa('providers', 'status')).stdout).to.match(/evotel\s+paused\s+login_refused/);

    expect(JSON.parse((await rpa('providers', 'resume', 'evotel', '--actor', 'on-call', '--json')).stdout)).to.deep.include({ provider: 'evotel', resumed: true }).and.have.nested.property('was.reason', 'login_refused');
    expect(JSON.parse((await rpa('providers', 'resume', 'evotel', '--json')).stdout)).to.deep.equal({ provider: 'evotel', resumed: false });
    const after = JSON.parse((await rpa('providers', 'status', '--json')).stdout).providers as Array<Record<string, unknown>>;
    expect(after.find((p) => p.provider === 'evotel')).to.include({ state: 'running', refused_logins: 0 });
    const events = await providerEvents(database.db, 'evotel');
    expect(events.map((e) => e.kind)).to.deep.equal(['resumed', 'paused', 'login_refused', 'login_refused', 'login_refused']);
    expect(events[0]!.actor).to.equal('on-call');

    const bad = await rpa('providers', 'resume', 'nosuch');
    expect(bad.code).to.not.equal(0);
  });

  it('shows, sets and clears a provider\'s windows; a bad --set changes nothing', async () => {
    const configured = JSON.parse((await rpa('providers', 'windows', 'metrofiber', '--json')).stdout);
    expect(configured).to.include({ provider: 'metrofiber', source: 'config', time_zone: 'Africa/Johannesburg' });
    const window = { maintenance: [{ starts_at: '2020-01-01T00:00:00Z', ends_at: '2099-01-01T00:00:00Z', label: 'cut-over' }] };
    const set = JSON.parse((await rpa('providers', 'windows', 'metrofiber', '--set', JSON.stringify(window), '--actor', 'on-call', '--json')).stdout);
    expect(set).to.deep.include({ source: 'operator', maintenance: [{ starts_at: '2020-01-01T00:00:00.000Z', ends_at: '2099-01-01T00:00:00.000Z', label: 'cut-over' }] });
    expect(set.now).to.include({ open: false, reason: 'maintenance', label: 'cut-over' });
    expect((await rpa('providers', 'windows', 'metrofiber')).stdout).to.match(/^metrofiber: closed \(maintenance: cut-over\) until .*\n {2}windows: operator, time zone Africa\/Johannesburg\n.*\n {2}maintenance: 2020-01-01T00:00:00.000Z to 2099-01-01T00:00:00.000Z \(cut-over\)\n$/);

    const bad = await rpa('providers', 'windows', 'metrofiber', '--set', JSON.stringify({ maintenance: [{ cron: '0 2 * * sun', duration: 'forever' }] }));
    expect(bad.code).to.not.equal(0);
    expect(bad.stderr).to.include('maintenance[0].duration');
    expect(JSON.parse((await rpa('providers', 'windows', 'metrofiber', '--json')).stdout)).to.include({ source: 'operator' });

    expect(JSON.parse((await rpa('providers', 'windows', 'metrofiber', '--clear', '--json')).stdout)).to.include({ source: 'config' });
  });
});
