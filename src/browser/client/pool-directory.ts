import type { ValkeyClient } from '../../queues/valkey.js';

/** One ready pool as the directory lists it. No token: `tokenId` names the token (see pool-token.ts). */
export interface PoolEntry {
  /** Pool id: the pod name, the local process id, or the browser role's. */
  id: string;
  /** Base URL of its API; its browsers are on the same port. */
  url: string;
  /** Which pool token opens it (`PoolToken.id`). */
  tokenId: string;
  /** Lease slots free on its ready browsers when last refreshed (the pool's GET /status). */
  freeSlots: number;
  /** Leases held on it when last refreshed. */
  busyContexts: number;
  /** Who registered it (a worker's fleet member id, or a browser role's process), for operators. */
  registeredBy: string;
  /** Milliseconds since the epoch after which the entry no longer counts unless refreshed. */
  expiresAt: number;
}

/**
 * A fenced write: it happens only while `key` holds `value` in Valkey (the fleet leader's lock,
 * whose value carries its fencing token), so a leader that lost its lock without knowing it
 * cannot register pools any more.
 */
export interface Fence {
  key: string;
  value: string;
}

export interface PoolDirectoryOptions {
  redis: ValkeyClient;
  /** QUEUE_PREFIX: one directory per installation. */
  prefix: string;
}

/**
 * The hash tag of every key of the browser fleet of one installation (the directory, the
 * fleet's lock, term and round): one Valkey Cluster slot, since a fenced registration reads the
 * lock and writes the directory in one script.
 */
export function browserKeyTag(prefix: string): string {
  return `{${prefix}-browser}`;
}

/** Writes one entry (fenced or not) and drops entries that expired. 1 = written, 0 = fenced out. */
const REGISTER = `
if ARGV[4] == '1' and redis.call('GET', KEYS[2]) ~= ARGV[5] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local ok, entry = pcall(cjson.decode, all[i + 1])
  if not ok or type(entry) ~= 'table' or tonumber(entry.expiresAt) == nil or tonumber(entry.expiresAt) < tonumber(ARGV[3]) then
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return 1
`;

/**
 * The pool directory: pool id → where it answers, in one Valkey hash per installation. Whoever
 * started a pool registers it once it is ready and refreshes it with a TTL (a worker's fleet
 * for the pools it started, the browser role for its own); an entry not refreshed in time stops
 * counting, so a pool whose owner died drops out by itself. The sandboxed batch children read
 * it directly and lease from the pool with the most room. Pods of browsers never reach Valkey:
 * their owner registers them.
 */
export class PoolDirectory {
  readonly key: string;

  constructor(private readonly o: PoolDirectoryOptions) {
    this.key = `${browserKeyTag(o.prefix)}:pools`;
  }

  /** Registers or refreshes a pool for `ttlMs`; false when `fence` no longer holds. */
  async register(entry: Omit<PoolEntry, 'expiresAt'>, ttlMs: number, fence?: Fence): Promise<boolean> {
    const now = Date.now();
    const stored: PoolEntry = {
      id: entry.id,
      url: entry.url,
      tokenId: entry.tokenId,
      freeSlots: entry.freeSlots,
      busyContexts: entry.busyContexts,
      registeredBy: entry.registeredBy,
      expiresAt: now + ttlMs,
    };
    const written = await this.o.redis.eval(REGISTER, 2, this.key, fence?.key ?? this.key, entry.id, JSON.stringify(stored), String(now), fence ? '1' : '0', fence?.value ?? '');
    return written === 1;
  }

  /** Removes a pool (it is stopping). Idempotent. */
  async remove(id: string): Promise<void> {
    await this.o.redis.hdel(this.key, id);
  }

  /** Pools registered and not expired, as of `now`. */
  async list(now: number = Date.now()): Promise<PoolEntry[]> {
    const raw = await this.o.redis.hgetall(this.key);
    const entries: PoolEntry[] = [];
    for (const text of Object.values(raw)) {
      const entry = parseEntry(text);
      if (entry && entry.expiresAt >= now) entries.push(entry);
    }
    return entries.sort((a, b) => a.id.localeCompare(b.id));
  }
}

function parseEntry(text: string): PoolEntry | undefined {
  try {
    const e = JSON.parse(text) as Partial<PoolEntry>;
    if (typeof e.id !== 'string' || typeof e.url !== 'string' || typeof e.tokenId !== 'string' || typeof e.expiresAt !== 'number') return undefined;
    return {
      id: e.id,
      url: e.url,
      tokenId: e.tokenId,
      freeSlots: typeof e.freeSlots === 'number' ? e.freeSlots : 0,
      busyContexts: typeof e.busyContexts === 'number' ? e.busyContexts : 0,
      registeredBy: typeof e.registeredBy === 'string' ? e.registeredBy : '',
      expiresAt: e.expiresAt,
    };
  } catch {
    return undefined;
  }
}
