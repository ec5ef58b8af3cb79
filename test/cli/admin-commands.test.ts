import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findActiveKey } from '../../src/api/auth/api-key.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { testRoot } from '../support/shared-services.js';

const exec = promisify(execFile);

describe('rpa migrate and rpa api-keys', () => {
  let database: TestDatabase;
  let env: NodeJS.ProcessEnv;
  beforeEach(async () => {
    database = await createTestDatabase({ migrate: false });
    env = { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: database.url, RPA_DATA_DIR: mkdtempSync(join(testRoot(), 'admin-')) };
  });
  afterEach(async () => {
    await database.drop();
  });
  const rpa = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await exec(process.execPath, [join(process.cwd(), 'bin', 'rpa.mjs'), ...args], { env });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  it('migrates a fresh database once, then has nothing to do', async () => {
    const migrations = readdirSync(join(process.cwd(), 'dist', 'migrations')).filter((f) => /^\d+_.+\.js$/.test(f)).map((f) => f.replace(/\.js$/, '')).sort();
    const first = await rpa('migrate', '--json');
    expect(first.code, first.stderr).to.equal(0);
    expect(JSON.parse(first.stdout)).to.deep.equal({ applied: migrations });
    expect((await rpa('migrate')).stdout).to.equal('the database is up to date\n');
  });

  it('creates, lists and revokes keys; bad arguments create nothing', async () => {
    await rpa('migrate');
    const created = await rpa('api-keys', 'create', '--name', 'oncall', '--role', 'operator');
    expect(created.code, created.stderr).to.equal(0);
    const key = created.stdout.trim();
    expect(await findActiveKey(database.db, key)).to.deep.equal({ name: 'oncall', role: 'operator' });
    const list = await rpa('api-keys', 'list', '--json');
    expect(list.stdout).to.not.include(key);
    expect(JSON.parse(list.stdout).api_keys.map((k: { name: string; role: string }) => [k.name, k.role])).to.deep.equal([['oncall', 'operator']]);
    expect((await rpa('api-keys', 'create', '--name', 'oncall', '--role', 'viewer')).stderr).to.match(/^rpa: an API key named "oncall" already exists/);
    for (const args of [['--name', 'x', '--role', 'root'], ['--name', 'bad name', '--role', 'viewer'], ['--role', 'viewer']]) {
      const run = await rpa('api-keys', 'create', ...args);
      expect(run.code, args.join(' ')).to.not.equal(0);
    }
    expect(await database.db.selectFrom('api_keys').select('name').execute()).to.have.length(1);
    expect((await rpa('api-keys', 'revoke', 'oncall')).code).to.equal(0);
    expect(await findActiveKey(database.db, key)).to.equal(undefined);
    const again = await rpa('api-keys', 'revoke', 'oncall');
    expect(again.code).to.equal(1);
    expect(again.stderr).to.equal('rpa: no active API key named "oncall"\n');
  });
});
