import { expect } from 'chai';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { startEmbeddedPostgres } from '../../src/infra/embedded-postgres.js';
import { canAccess } from '../../src/infra/postgres-install.js';
import { testLogger } from '../support/shared-services.js';
import { MAIN, lastLine, processesUnder, runMain, runProcess, stackLines, type RunningProcess } from '../support/main-process.js';

/**
 * Every way a start can fail ends in one clear line on stderr, a non-zero exit code, no stack
 * trace and nothing of that start left running. Each start gets its own folder for its data
 * and its temporary files, so whatever it started can be found by that path.
 */
describe('start-up failures: one clear line, non-zero exit, nothing left running', function () {
  this.timeout(120_000);
  let root: string;
  let n = 0;

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'rpa-start-'));
    // The postgres account (as root) must reach clusters made in place for these tests.
    chmodSync(root, 0o755);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  /** A fresh folder for one start: its data folder and TMPDIR are under it. */
  function place(): { dir: string; data: string; env: NodeJS.ProcessEnv } {
    const dir = join(root, `start-${++n}`);
    mkdirSync(join(dir, 'tmp'), { recursive: true, mode: 0o755 });
    chmodSync(dir, 0o755);
    return { dir, data: join(dir, 'data'), env: { RPA_DATA_DIR: join(dir, 'data'), TMPDIR: join(dir, 'tmp'), PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn' } };
  }

  async function expectOneLineFailure(run: RunningProcess, dir: string, message: RegExp, extraPaths: string[] = []): Promise<string> {
    const code = await run.exited;
    const { stdout, stderr } = run.output();
    expect(code, stderr).to.not.equal(0);
    const line = lastLine(stderr);
    expect(line).to.match(/^rpa: /);
    expect(line).to.match(message);
    expect(stackLines(stdout + stderr), 'no stack trace').to.deep.equal([]);
    // Servers stop asynchronously after their parent: give them a moment, then look.
    await new Promise((r) => setTimeout(r, 500));
    expect(processesUnder(dir, extraPaths), 'processes of this start still running').to.deep.equal([]);
    return line;
  }

  it('the API port is taken: names the port and the PORT setting', async () => {
    const { dir, env } = place();
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      await expectOneLineFailure(runMain({ ...env, PORT: String(port) }), dir, new RegExp(`port ${port} .*in use.*PORT`));
    } finally {
      blocker.close();
    }
  });

  it('a second start on the same data folder is refused at once, and the first keeps running untouched', async () => {
    const { dir, data, env } = place();
    const first = runMain({ ...env, RPA_ROLES: 'api', LOG_LEVEL: 'info' });
    try {
      await first.waitFor(/API listening/, 90_000);
      const postgresBefore = processesUnder(realpathSync(join(data, 'postgres', 'pgdata'))).filter((p) => /postgres -D/.test(p));
      expect(postgresBefore).to.have.length(1);
      const started = Date.now();
      const second = runMain({ ...env, RPA_ROLES: 'api' });
      const code = await second.exited;
      expect(Date.now() - started, 'refused at once').to.be.below(10_000);
      expect(code).to.not.equal(0);
      expect(lastLine(second.output().stderr)).to.match(new RegExp(`^rpa: .*data folder ${data} is in use by another running system \\(pid ${first.child.pid}\\).*RPA_DATA_DIR`));
      expect(stackLines(second.output().stderr)).to.deep.equal([]);
      const postgresAfter = processesUnder(realpathSync(join(data, 'postgres', 'pgdata'))).filter((p) => /postgres -D/.test(p));
      expect(postgresAfter, 'the first system keeps its own Postgres').to.deep.equal(postgresBefore);
      const url = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(first.output().stdout)?.[1];
      expect((await fetch(`${url}/health/ready`)).status, 'the first system still answers').to.equal(200);
    } finally {
      first.child.kill('SIGINT');
      expect(await first.exited).to.equal(0);
    }
    expect(processesUnder(dir, [realpathSync(join(data, 'postgres', 'pgdata'))])).to.deep.equal([]);
  });

  describe('embedded Postgres cannot start', () => {
    /** A cluster made the way a start makes it, then stopped. */
    async function cluster(data: string): Promise<string> {
      const pg = await startEmbeddedPostgres(join(data, 'postgres'), testLogger);
      await pg.stop();
      return pg.dataDir;
    }

    it('a damaged cluster: says the files may be damaged and how to start over', async () => {
      const { dir, data, env } = place();
      const pgdata = await cluster(data);
      truncateSync(join(pgdata, 'global', 'pg_control'), 0);
      const line = await expectOneLineFailure(runMain(env), dir, /embedded Postgres stopped while starting.*damaged.*rpa reset/, [pgdata]);
      expect(line).to.include(pgdata);
    });

    it('a cluster of an older Postgres: names both versions and how to upgrade or start over', async () => {
      const { dir, data, env } = place();
      const pgdata = await cluster(data);
      writeFileSync(join(pgdata, 'PG_VERSION'), '14\n');
      await expectOneLineFailure(runMain(env), dir, /written by Postgres 14.*runs Postgres \d+.*pg_upgrade.*rpa reset/, [pgdata]);
    });

    it('a foreign folder where the cluster should be: refuses to touch it', async () => {
      const { dir, data, env } = place();
      mkdirSync(join(data, 'postgres', 'pgdata'), { recursive: true });
      writeFileSync(join(data, 'postgres', 'pgdata', 'notes.txt'), 'not a database');
      await expectOneLineFailure(runMain(env), dir, /holds files but no Postgres cluster/);
      expect(readFileSync(join(data, 'postgres', 'pgdata', 'notes.txt'), 'utf8')).to.equal('not a database');
    });

    it('a cluster the server may not read (wrong owner or mode): says so', async () => {
      const { dir, data, env } = place();
      const pgdata = await cluster(data);
      // Root may read anything, so take the cluster from the account the server runs as.
      if (userInfo().uid === 0) chownSync(pgdata, 0, 0);
      else chmodSync(pgdata, 0o000);
      try {
        await expectOneLineFailure(runMain(env), dir, /embedded Postgres stopped while starting.*(ownership|permission|Permission)/, [pgdata]);
      } finally {
        chmodSync(pgdata, 0o700);
      }
    });
  });

  it('embedded Valkey cannot start (a damaged append-only file): names the tool that repairs it and how to start over', async () => {
    const { dir, data, env } = place();
    mkdirSync(join(data, 'valkey', 'appendonlydir'), { recursive: true });
    writeFileSync(join(data, 'valkey', 'appendonlydir', 'appendonly.aof.manifest'), 'this is not a manifest\n');
    await expectOneLineFailure(runMain({ ...env, RPA_ROLES: 'api' }), dir, /embedded Valkey stopped while starting.*redis-check-aof.*rpa reset/);
  });

  describe('a program is missing (as an ordinary user who cannot install it)', () => {
    /** Runs main as nobody when this is root and nobody may read the build; else as this user. */
    function asOrdinaryUser(env: NodeJS.ProcessEnv): RunningProcess {
      const nobody = { uid: 65534, gid: 65534 };
      if (userInfo().uid === 0 && canAccess(nobody, MAIN, '-r')) {
        const dir = dirname(String(env.RPA_DATA_DIR));
        chownSync(dir, nobody.uid, nobody.gid);
        chownSync(String(env.TMPDIR), nobody.uid, nobody.gid);
        return runProcess('/usr/bin/setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, MAIN], { env: { ...env, PATH: '/nonexistent', HOME: dir } });
      }
      return runMain({ ...env, PATH: '/nonexistent' });
    }

    it('no redis-server or valkey-server: says what to install, or which variable points at your own', async () => {
      const { dir, env } = place();
      await expectOneLineFailure(asOrdinaryUser({ ...env, RPA_ROLES: 'api' }), dir, /no valkey-server or redis-server on PATH.*apt-get install redis-server.*VALKEY_URL/);
    });

    it('no Chromium: says what to install, or which variable points at your own', async () => {
      const { dir, env } = place();
      await expectOneLineFailure(asOrdinaryUser({ ...env, RPA_ROLES: 'browser' }), dir, /no Chromium on PATH.*apt-get install chromium.*CHROMIUM_PATH/);
    });
  });

  it('the data folder is not writable: names the folder and RPA_DATA_DIR', async () => {
    const { dir, env } = place();
    // Root may write anywhere: a data folder below a regular file cannot be made by anyone.
    writeFileSync(join(dir, 'a-file'), '');
    const data = join(dir, 'a-file', 'data');
    await expectOneLineFailure(runMain({ ...env, RPA_DATA_DIR: data }), dir, new RegExp(`data folder ${data} is not writable.*RPA_DATA_DIR`));
  });
});
