import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { RpaError } from '../errors/failures.js';

/** `OCTOTEL_PASSWORD` ↔ `octotel-password`: the file name a setting has in SECRETS_DIR. */
export function settingFileName(envName: string): string {
  return envName.toLowerCase().replace(/_/g, '-');
}

/**
 * Reads one file per setting from a mounted secret/config directory (Kubernetes mounts
 * Secrets and ConfigMaps this way). Dot-files and folders are skipped: Kubernetes keeps
 * `..data` links beside the files.
 */
export function readSecretsDir(dir: string): Map<string, string> {
  const values = new Map<string, string>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (cause) {
    throw new RpaError('CONFIG_INVALID', `SECRETS_DIR: cannot read directory ${dir}`, { cause, field: 'SECRETS_DIR' });
  }
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    if (!statSync(path).isFile()) continue;
    values.set(name, readFileSync(path, 'utf8').replace(/\r?\n$/, ''));
  }
  return values;
}
