import { createHash } from 'node:crypto';

/**
 * A job's tamper-evident audit trail: a hash chain with one entry per job event and per
 * evidence item, in the order they were written. Each entry is `{seq, kind, sha256, prev}`:
 * `sha256` the digest of what it stands for (audit-records.ts), `prev` the previous entry's
 * `hash`, and its own `hash` = sha256 of `{"seq":…,"kind":…,"sha256":…,"prev":…}` (that key
 * order, no spaces). The last hash is the chain's head: ORDS receives it in each callback, so a
 * later change to any entry, event row or stored object can no longer reach the head it holds.
 */

export type AuditKind = 'event' | 'evidence';

export interface AuditLink {
  seq: number;
  kind: AuditKind;
  sha256: string;
  prev: string;
}

export interface AuditEntry extends AuditLink {
  hash: string;
}

/** The `prev` of a chain's first entry. */
export const GENESIS = '0'.repeat(64);

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The hash of one entry (what the next entry's `prev` and, for the last, the head are). */
export function entryHash(link: AuditLink): string {
  return sha256Hex(JSON.stringify({ seq: link.seq, kind: link.kind, sha256: link.sha256, prev: link.prev }));
}

/** The entries that follow a chain whose length is `seq` and whose head is `head` (null when empty). */
export function extendChain(tail: { seq: number; head: string | null }, items: ReadonlyArray<{ kind: AuditKind; sha256: string }>): AuditEntry[] {
  let seq = tail.seq;
  let prev = tail.head ?? GENESIS;
  return items.map((item) => {
    const link = { seq: ++seq, kind: item.kind, sha256: item.sha256, prev };
    const entry = { ...link, hash: entryHash(link) };
    prev = entry.hash;
    return entry;
  });
}

/** JSON with object keys sorted at every level: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value instanceof Date) return value.toISOString();
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}
