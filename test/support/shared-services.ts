import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/infra/embedded-postgres.js';
import { startEmbeddedValkey, type EmbeddedValkeyHandle } from '../../src/infra/embedded-valkey.js';
import { createLogger, type Logger } from '../../src/logger.js';

/**
 * One real Postgres and one real Valkey-protocol server for the whole test run, started on
 * first use and stopped by the root hook. Tests isolate themselves with a fresh database
 * (see test-database.ts) and a fresh queue prefix per test file.
 */
let root: string | undefined;
let postgres: Promise<EmbeddedPostgresHandle> | undefined;
let valkey: Promise<EmbeddedValkeyHandle> | undefined;

export const testLogger: Logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export function testRoot(): string {
  if (!root) {
    root = mkdtempSync(join(tmpdir(), 'rpa-test-'));
    // As root, Postgres runs as the postgres user, which must be able to reach its folder.
    chmodSync(root, 0o755);
  }
  return root;
}

export function sharedPostgres(): Promise<EmbeddedPostgresHandle> {
  postgres ??= startEmbeddedPostgres(join(testRoot(), 'postgres'), testLogger);
  return postgres;
}

export function sharedValkey(): Promise<EmbeddedValkeyHandle> {
  valkey ??= startEmbeddedValkey(join(testRoot(), 'valkey'), testLogger);
  return valkey;
}

/** A private Valkey server a test may stop, kill and restart. The caller stops it. */
export function privateValkey(): Promise<EmbeddedValkeyHandle> {
  return startEmbeddedValkey(join(testRoot(), `valkey-${randomUUID()}`), testLogger);
}

/** A queue prefix no other test uses. */
export function uniquePrefix(name = 'test'): string {
  return `${name}-${randomUUID().slice(0, 8)}`;
}

export async function stopSharedServices(): Promise<void> {
  const results = await Promise.allSettled([
    postgres?.then((p) => p.stop()),
    valkey?.then((v) => v.stop()),
  ]);
  postgres = undefined;
  valkey = undefined;
  if (root) rmSync(root, { recursive: true, force: true });
  root = undefined;
  for (const r of results) if (r.status === 'rejected') console.error('stopping shared test services failed', r.reason);
}
