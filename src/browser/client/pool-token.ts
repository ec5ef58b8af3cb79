import { randomBytes } from 'node:crypto';

/**
 * A pool's bearer token and the name under which the pool directory refers to it. The
 * directory (Valkey) never holds a token: an entry names its `id`, and the processes that may
 * lease from the pool carry the token itself in their Runtime (`poolTokens`, by id).
 */
export interface PoolToken {
  /** `configured` for BROWSER_POOL_TOKEN (every process of the installation has it), else `generated-<random>`. Not secret. */
  readonly id: string;
  /** The token. Never logged, never written to Valkey. */
  readonly token: string;
}

/** The id of BROWSER_POOL_TOKEN: the same in every process that was given it. */
export const CONFIGURED_TOKEN_ID = 'configured';

/**
 * The configured token, or a random one (with an id of its own) for a process that was given
 * none: its pools are then usable only by its own children.
 */
export function poolToken(configured: string | undefined): PoolToken {
  if (configured) return Object.freeze({ id: CONFIGURED_TOKEN_ID, token: configured });
  return Object.freeze({ id: `generated-${randomBytes(6).toString('hex')}`, token: randomBytes(32).toString('base64url') });
}
