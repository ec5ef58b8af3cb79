import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { RpaError } from '../errors/failures.js';

export interface ServerProcessOptions {
  /** What it is, for messages: `embedded Postgres`. */
  name: string;
  command: string;
  args: string[];
  spawn?: Pick<SpawnOptions, 'uid' | 'gid' | 'env' | 'cwd'>;
  /** Resolves when the server answers (polling), or rejects; the process's early exit wins either way. */
  ready: (proc: ChildProcess) => Promise<void>;
  /** Told each line the server writes. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** What to do when it does not start (appended to the message). */
  hint: string;
}

export interface ServerProcess {
  readonly pid: number;
  /** The last lines the server wrote (its own account of a failure). */
  lastLines(): string[];
  /** Resolves once it has exited; `signal` first (SIGKILL after `timeoutMs`). Safe when already gone. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<void>;
  readonly exited: Promise<void>;
}

/**
 * Starts an external server (postgres, redis-server) in its own process group, so that a
 * Ctrl-C to `npm start` reaches only us and the graceful shutdown that still needs the server
 * can run; we stop it last. A server that exits or cannot be spawned before it is ready is a
 * STARTUP_FAILED naming the server's own last words and what to do next.
 */
export async function startServerProcess(options: ServerProcessOptions): Promise<ServerProcess> {
  const lines: string[] = [];
  const proc = spawn(options.command, options.args, { ...options.spawn, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  if (proc.pid !== undefined) watchForOrphan(proc.pid);
  const keep = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) {
      if (!line.trim()) continue;
      lines.push(line.trim());
      if (lines.length > 20) lines.shift();
      options.onLine?.(line.trim(), stream);
    }
  };
  proc.stdout?.on('data', keep('stdout'));
  proc.stderr?.on('data', keep('stderr'));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const failed = new Promise<never>((_, reject) => {
    proc.once('error', (error: NodeJS.ErrnoException) =>
      reject(new RpaError('STARTUP_FAILED', `${options.name} could not be started (${error.code ?? error.message} running ${options.command}): ${options.hint}`, { cause: error })),
    );
    proc.once('exit', (code, signal) => {
      const said = lastWords(lines);
      reject(new RpaError('STARTUP_FAILED', `${options.name} stopped while starting (${signal ?? `exit code ${code}`})${said ? `: "${said}"` : ''}. ${options.hint}`));
    });
  });
  failed.catch(() => undefined);
  const handle: ServerProcess = {
    get pid() {
      return proc.pid ?? -1;
    },
    lastLines: () => [...lines],
    exited,
    async stop(signal = 'SIGTERM', timeoutMs = 30_000) {
      if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) return;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      timer.unref();
      await exited;
      clearTimeout(timer);
    },
  };
  try {
    await Promise.race([options.ready(proc), failed]);
  } catch (error) {
    await handle.stop('SIGKILL');
    throw error;
  }
  return handle;
}

/** The most telling line a server wrote: its FATAL/PANIC/error line, else its last. */
function lastWords(lines: string[]): string | undefined {
  const telling = [...lines].reverse().find((l) => /FATAL|PANIC|ERROR|error|Bad file|Fatal|Can't|cannot/i.test(l));
  return (telling ?? lines.at(-1))?.replace(/^\d{4}-\d\d-\d\d [\d:.]+ \w+ \[\d+\] /, '').slice(0, 300);
}

/**
 * Its own process group keeps a server out of a Ctrl-C, so nothing stops it when we die without a
 * shutdown (SIGKILL, OOM). A watcher, as detached as the server, ends it then: SIGTERM once this
 * process is gone, SIGKILL 10 s later; it leaves when the server does.
 */
// A script of its own (node -e), so it imports nothing; `alive` is stale-process.ts's isAlive.
const ORPHAN_WATCH = `
const [owner, server] = process.argv.slice(1).map(Number);
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; } };
const tick = setInterval(() => {
  if (!alive(server)) process.exit(0);
  if (alive(owner)) return;
  clearInterval(tick);
  try { process.kill(server, 'SIGTERM'); } catch {}
  setTimeout(() => { try { process.kill(server, 'SIGKILL'); } catch {} process.exit(0); }, 10000);
}, 1000);
`;

function watchForOrphan(serverPid: number): void {
  const watcher = spawn(process.execPath, ['-e', ORPHAN_WATCH, String(process.pid), String(serverPid)], { detached: true, stdio: 'ignore', env: {}, cwd: '/' });
  watcher.on('error', () => undefined);
  watcher.unref();
}
