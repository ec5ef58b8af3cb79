import type { PoolDirectory } from './pool-directory.js';

/** A pool a source may lease from: where it answers and the token that opens it. */
export interface LeasablePool {
  id: string;
  url: string;
  /** Never logged. */
  token: string;
  /** Free lease slots as last reported; sources try the pools with the most room first. */
  freeSlots: number;
}

/** Where a source learns which pools there are. */
export interface PoolList {
  pools(): Promise<LeasablePool[]>;
}

/** One pool given by address (BROWSER_POOL_URL and its token): a list of one. */
export function fixedPool(url: string, token: string, id = 'fixed'): PoolList {
  const pool: LeasablePool = { id, url: url.replace(/\/+$/, ''), token, freeSlots: Number.MAX_SAFE_INTEGER };
  return { pools: async () => [pool] };
}

/**
 * The pools in the directory this process holds a token for (`tokens`: token id → token, from
 * its Runtime); pools of another token are left out.
 */
export function directoryPools(directory: PoolDirectory, tokens: Readonly<Record<string, string>>): PoolList {
  return {
    pools: async () =>
      (await directory.list()).flatMap((entry) => {
        const token = Object.hasOwn(tokens, entry.tokenId) ? tokens[entry.tokenId] : undefined;
        return token ? [{ id: entry.id, url: entry.url, token, freeSlots: entry.freeSlots }] : [];
      }),
  };
}
