import { createHash, randomBytes } from 'node:crypto';
import type { ValkeyClient } from '../queues/valkey.js';
import type { KeyRole } from '../db/schema.js';

/** What a Bull Board login keeps server-side: who logged in, never the key itself. */
export interface BoardSession {
  /** The API key's name and role at login. */
  keyName: string;
  role: KeyRole;
  /** sha256 of the API key (what Postgres keeps too): each request checks it still holds. */
  keyHash: string;
  /** The CSRF token every mutating request of this session must send back (X-XSRF-TOKEN). */
  csrf: string;
  createdAt: string;
}

/** A session id or CSRF token: 32 random bytes, base64url. */
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

export function isToken(value: string | undefined): value is string {
  return value !== undefined && TOKEN.test(value);
}

/**
 * Bull Board sessions in Valkey, with an expiry (BULL_BOARD_SESSION_TTL_MS): the browser's
 * cookie holds an opaque random id and nothing else. Stored under the id's sha256, so someone
 * who can read Valkey cannot take over a session from what is stored.
 */
export class BoardSessions {
  constructor(
    private readonly redis: ValkeyClient,
    private readonly prefix: string,
    readonly ttlMs: number,
  ) {}

  private keyOf(id: string): string {
    return `{${this.prefix}-board}:session:${createHash('sha256').update(id).digest('hex')}`;
  }

  /** A new session; its id (for the cookie) and CSRF token are returned once, here. */
  async create(identity: { name: string; role: KeyRole }, keyHash: string): Promise<{ id: string; session: BoardSession }> {
    const id = randomToken();
    const session: BoardSession = { keyName: identity.name, role: identity.role, keyHash, csrf: randomToken(), createdAt: new Date().toISOString() };
    await this.redis.set(this.keyOf(id), JSON.stringify(session), 'PX', this.ttlMs);
    return { id, session };
  }

  /** The live session of an id; undefined for a malformed, unknown or expired one. */
  async get(id: string | undefined): Promise<BoardSession | undefined> {
    if (!isToken(id)) return undefined;
    const text = await this.redis.get(this.keyOf(id));
    if (!text) return undefined;
    try {
      return JSON.parse(text) as BoardSession;
    } catch {
      return undefined;
    }
  }

  async delete(id: string | undefined): Promise<void> {
    if (isToken(id)) await this.redis.del(this.keyOf(id));
  }
}
