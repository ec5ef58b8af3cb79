import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/infra/free-port.js';
import { processesUnder, runProcess, stackLines } from '../support/main-process.js';

const REPO = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');

/**
 * The README's quick start as a new user meets it: a fresh clone in a private folder (0700, as
 * `mktemp -d` makes; as root when the suite runs as root), `npm start` cut short with Ctrl-C
 * while it installs, then `npm start` again until /health/ready, then Ctrl-C: nothing of it
 * is left running, and its data is private.
 */
describe('a fresh clone in a private folder: npm start', function () {
  this.timeout(15 * 60_000);
  let root: string;
  let app: string;

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'rpa-clone-'));
    expect(statSync(root).mode & 0o777).to.equal(0o700);
    app = join(root, 'app');
    execFileSync('git', ['clone', '--quiet', REPO, app]);
    mkdirSync(join(root, 'tmp'));
  });
  after(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  function npmStart(port: number) {
    return runProcess('npm', ['start'], {
      cwd: app,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: join(root, 'tmp'), PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' },
    });
  }

  it('survives a Ctrl-C while installing, then starts, answers /health/ready, and stops leaving nothing behind', async () => {
    const port = await freePort();
    const first = npmStart(port);
    await first.waitFor(/installing npm dependencies/, 60_000);
    await new Promise((r) => setTimeout(r, 1_500));
    process.kill(-first.child.pid!, 'SIGINT');
    expect(await first.exited).to.not.equal(0);
    await new Promise((r) => setTimeout(r, 500));
    expect(processesUnder(root), 'the interrupted start left processes').to.deep.equal([]);

    const second = npmStart(port);
    try {
      await second.waitFor(/system running/, 10 * 60_000);
      const ready = await fetch(`http://127.0.0.1:${port}/health/ready`);
      expect(ready.status).to.equal(200);
      expect(((await ready.json()) as { status: string }).status).to.equal('ready');
    } finally {
      process.kill(-second.child.pid!, 'SIGINT');
    }
    // npm itself reports a Ctrl-C as 130; the system under it stopped on its own terms.
    expect(await second.exited, second.output().stderr.slice(-2000)).to.be.oneOf([0, 130]);
    const { stdout, stderr } = second.output();
    expect(stdout).to.match(/"msg":"stopped"/);
    expect(stackLines(stdout + stderr)).to.deep.equal([]);

    const data = join(app, 'data');
    expect(statSync(data).mode & 0o777, 'the data folder is private').to.equal(0o700);
    const pgdata = join(data, 'postgres', 'pgdata');
    const cluster = realpathSync(pgdata);
    expect(statSync(cluster).mode & 0o777, 'the Postgres cluster is private').to.equal(0o700);
    if (userInfo().uid === 0) {
      // The postgres account cannot reach a private folder: its cluster lives where it can.
      expect(lstatSync(pgdata).isSymbolicLink()).to.equal(true);
      expect(cluster.startsWith('/var/lib/rpa-orchestrator/clusters/')).to.equal(true);
    }
    await new Promise((r) => setTimeout(r, 500));
    expect(processesUnder(root, [cluster]), 'processes of the start still running').to.deep.equal([]);

    // `rpa reset` starts over: the data folder and its cluster are gone.
    execFileSync(process.execPath, [join(app, 'bin', 'rpa.mjs'), 'reset', '--yes'], { cwd: app, env: { PATH: process.env.PATH, HOME: process.env.HOME } });
    expect(existsSync(data)).to.equal(false);
    expect(existsSync(cluster)).to.equal(false);
  });
});
