import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A folder laid out as the kubelet mounts a Secret: each key a symlink `<key> → ..data/<key>`,
 * `..data` a symlink to a timestamped folder of the values. `update` swaps the values in one
 * rename of `..data`, as the kubelet's atomic writer does when the Secret changes.
 */
export interface MountedSecret {
  readonly dir: string;
  update(values: Record<string, string>): void;
}

export function mountSecret(dir: string, values: Record<string, string>): MountedSecret {
  mkdirSync(dir, { recursive: true });
  let version = 0;
  let current: string | undefined;
  const write = (next: Record<string, string>) => {
    const folder = `..${Date.now()}_${++version}`;
    mkdirSync(join(dir, folder));
    for (const [key, value] of Object.entries(next)) writeFileSync(join(dir, folder, key), value);
    symlinkSync(folder, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    for (const key of Object.keys(next)) {
      try {
        symlinkSync(join('..data', key), join(dir, key));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    if (current) rmSync(join(dir, current), { recursive: true, force: true });
    current = folder;
  };
  write(values);
  return { dir, update: write };
}
