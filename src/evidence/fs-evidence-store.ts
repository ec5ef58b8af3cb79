import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { RpaError } from '../errors/failures.js';
import { assertSafeKey, type EvidenceStore } from './evidence-store.js';

/**
 * Evidence on the local filesystem, under EVIDENCE_DIR (the default for `npm start`): one file
 * per object at `<root>/<key>`, written to a temporary name first and renamed, so a reader
 * never sees half a screenshot. Folders 0700, files 0600. Errors say what failed and why
 * (the errno), never the folder.
 */
export class FsEvidenceStore implements EvidenceStore {
  readonly kind = 'fs';
  private readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  async check(): Promise<void> {
    try {
      await mkdir(this.root, { recursive: true, mode: 0o700 });
      await access(this.root, constants.W_OK);
    } catch (thrown) {
      throw unavailable('written', thrown);
    }
  }

  async put(key: string, body: Buffer, _contentType: string): Promise<void> {
    const file = this.fileOf(key);
    const temporary = `${file}.${randomUUID()}.part`;
    try {
      await mkdir(dirname(file), { recursive: true, mode: 0o700 });
      await writeFile(temporary, body, { mode: 0o600 });
      await rename(temporary, file);
    } catch (thrown) {
      await rm(temporary, { force: true }).catch(() => undefined);
      throw unavailable('written', thrown);
    }
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.fileOf(key));
    } catch (thrown) {
      if ((thrown as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw unavailable('read', thrown);
    }
  }

  async deletePrefix(prefix: string): Promise<number> {
    assertSafeKey(prefix, { prefix: true });
    if (!prefix.endsWith('/')) throw new RpaError('INTERNAL', 'an evidence prefix must end in /');
    const folder = join(this.root, prefix);
    let files: number;
    try {
      files = await countFiles(folder);
    } catch (thrown) {
      if ((thrown as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw unavailable('listed', thrown);
    }
    try {
      await rm(folder, { recursive: true, force: true });
    } catch (thrown) {
      throw unavailable('deleted', thrown);
    }
    return files;
  }

  async close(): Promise<void> {}

  private fileOf(key: string): string {
    assertSafeKey(key);
    return join(this.root, key);
  }
}

async function countFiles(folder: string): Promise<number> {
  let n = 0;
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    n += entry.isDirectory() ? await countFiles(join(folder, entry.name)) : 1;
  }
  return n;
}

function unavailable(what: string, cause: unknown): RpaError {
  const errno = (cause as NodeJS.ErrnoException).code ?? 'error';
  return new RpaError('EVIDENCE_UNAVAILABLE', `evidence could not be ${what} in EVIDENCE_DIR (${errno})`, { cause });
}
