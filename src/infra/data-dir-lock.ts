import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { RpaError } from '../errors/failures.js';

export interface DataDirLock {
  release(): Promise<void>;
}

/**
 * The name of the lock of one data folder: a Linux abstract socket (the kernel drops it when
 * its process dies, even by SIGKILL, so a lock is never stale and taking it is atomic).
 */
function lockName(dataDir: string): string {
  let path = dataDir;
  try {
    path = realpathSync(dataDir);
  } catch {
    // Not created yet: the name it will have.
  }
  return `\0rpa-orchestrator-${createHash('sha256').update(path).digest('hex').slice(0, 32)}`;
}

/** Asks the holder who it is; it answers with its pid. */
function askHolder(name: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect(name);
    let text = '';
    socket.setTimeout(1_000, () => socket.destroy());
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('close', () => resolve(text.trim() || undefined));
    socket.on('error', () => resolve(undefined));
  });
}

/**
 * Takes the data folder for this process, so that a second `npm start` on the same folder is
 * refused at once instead of starting servers on files a live system uses. Held until
 * release() or the process's end.
 */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const name = lockName(dataDir);
  const server: Server = createServer((socket) => socket.end(`${process.pid}\n`));
  server.unref();
  await new Promise<void>((resolve, reject) => {
    server.once('error', async (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EADDRINUSE') return reject(error);
      const holder = await askHolder(name);
      reject(
        new RpaError(
          'STARTUP_FAILED',
          `the data folder ${dataDir} is in use by another running system${holder ? ` (pid ${holder})` : ''}: stop it first, or give this one its own folder with RPA_DATA_DIR`,
          { field: 'RPA_DATA_DIR' },
        ),
      );
    });
    server.listen(name, () => resolve());
  });
  return {
    release: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
