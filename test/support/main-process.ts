import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));

export interface RunningProcess {
  child: ChildProcess;
  /** Everything written so far. */
  output(): { stdout: string; stderr: string };
  /** Resolves with the exit code (or 128 + signal number) once the process has exited. */
  exited: Promise<number>;
  /** Resolves when `pattern` appears in stdout or stderr (or rejects after `timeoutMs`). */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<void>;
}

const SIGNALS: Record<string, number> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** Spawns a command in a process group of its own (so a test can signal it and all its children). */
export function runProcess(command: string, args: string[], options: { env: NodeJS.ProcessEnv; cwd?: string }): RunningProcess {
  const child = spawn(command, args, { env: options.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  const watchers: Array<() => void> = [];
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    watchers.forEach((w) => w());
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    watchers.forEach((w) => w());
  });
  const exited = new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? 128 + (SIGNALS[signal ?? ''] ?? 0))));
  return {
    child,
    output: () => ({ stdout, stderr }),
    exited,
    waitFor: (pattern, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (pattern.test(stdout) || pattern.test(stderr)) {
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern} in the output:\n${stdout.slice(-2000)}\n${stderr.slice(-2000)}`)), timeoutMs);
        watchers.push(check);
        check();
        void exited.then(() => setTimeout(() => reject(new Error(`the process exited before ${pattern} appeared:\n${stdout.slice(-2000)}\n${stderr.slice(-2000)}`)), 100));
      }),
  };
}

/** `node dist/src/main.js` with exactly this environment (plus PATH unless given). */
export function runMain(env: NodeJS.ProcessEnv, cwd?: string): RunningProcess {
  return runProcess(process.execPath, [MAIN], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, cwd });
}

/**
 * Processes still alive that belong to a start under `root`: whose command line, working
 * folder or environment names `root`, or one of `paths` (a relocated Postgres cluster).
 * Chromium names its profile under TMPDIR, redis-server works in its data folder, Postgres
 * names its cluster: point TMPDIR and RPA_DATA_DIR under `root` and nothing of that start hides.
 */
export function processesUnder(root: string, paths: string[] = []): string[] {
  const needles = [root, ...paths];
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const read = (what: string) => {
      try {
        return what === 'cwd' ? readlinkSync(`/proc/${entry}/cwd`) : readFileSync(`/proc/${entry}/${what}`, 'utf8');
      } catch {
        return '';
      }
    };
    const cmdline = read('cmdline').replace(/\0/g, ' ').trim();
    if (!cmdline) continue;
    const stat = read('stat');
    if (/^\d+ \(.*\) Z/.test(stat)) continue;
    if (needles.some((n) => cmdline.includes(n) || read('cwd').startsWith(n) || read('environ').includes(n))) found.push(`${entry} ${cmdline.slice(0, 200)}`);
  }
  return found;
}

/** Lines that look like a stack trace (`    at fn (file:1:2)`). */
export function stackLines(text: string): string[] {
  return text.split('\n').filter((line) => /^\s+at .*[(:]/.test(line));
}

/** The last non-empty line written to stderr. */
export function lastLine(text: string): string {
  return text.trim().split('\n').at(-1) ?? '';
}
