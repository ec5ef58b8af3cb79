import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this runs from dist/test/support). */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface PortalProcess {
  /** Base URL of each practice portal the process serves. */
  readonly urls: Record<string, string>;
  readonly child: ChildProcess;
  /** SIGTERM, and waits until it has exited (its ports are free again). */
  stop(): Promise<void>;
}

/**
 * `rpa portals --json` in a process of its own, with only `env` of ours: the accounts and ports
 * come from the documented variables (`<NAME>_PORT`, `<NAME>_USERNAME`, `<NAME>_PASSWORD`, …).
 */
export async function startPortalProcess(env: Record<string, string>): Promise<PortalProcess> {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'rpa.mjs'), 'portals', '--json'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'silent', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const urls = await new Promise<Record<string, string>>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(JSON.parse(out.slice(0, out.indexOf('\n'))));
    });
    child.once('exit', (code) => reject(new Error(`rpa portals exited ${code} before it printed its URLs: ${err.slice(-500)}`)));
  });
  return {
    urls,
    child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}
