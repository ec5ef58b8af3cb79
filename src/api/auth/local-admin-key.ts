import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../config/config.js';
import type { Db } from '../../db/database.js';
import { createApiKey } from './api-key.js';
import { apiKeyNameExists } from '../../db/api-key-store.js';
import type { Logger } from '../../logger.js';

export function adminKeyFile(config: Config): string {
  return join(config.dataDir, 'admin-api-key');
}

/**
 * Without RPA_API_KEY, a fresh installation would have no key anyone could use. On first
 * start it makes an admin key and writes it, readable by its owner only, under the data
 * folder (`rpa` commands and `rpa demo` read it there). The key itself is never logged.
 */
export async function ensureLocalAdminKey(config: Config, db: Db, logger: Logger): Promise<void> {
  if (config.apiKey) return;
  const file = adminKeyFile(config);
  if (existsSync(file)) return;
  if (await apiKeyNameExists(db, 'local-admin')) return;
  const { key } = await createApiKey(db, 'local-admin', 'admin');
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  logger.warn({ file }, 'no RPA_API_KEY set: created an admin API key "local-admin" and wrote it to this file (owner-only)');
}

export function readLocalAdminKey(config: Config): string | undefined {
  if (config.apiKey) return config.apiKey;
  try {
    return readFileSync(adminKeyFile(config), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
