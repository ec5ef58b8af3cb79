import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;

// bigint (int8) and numeric come back as strings: ids stay exact; counts are cast in SQL where needed.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => v);

/** One round trip: does Postgres answer? */
export async function pingDatabase(db: Db): Promise<void> {
  await sql`select 1`.execute(db);
}

export function createDb(connectionString: string, options: { max?: number; connectTimeoutMs?: number } = {}): Db {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    idleTimeoutMillis: 30_000,
  });
  // A client losing its server must not crash the process; the next query on it reports the loss.
  // The pool listens on idle clients only: one checked out between two queries of a transaction
  // (Postgres stopped, or the backend terminated) would emit an unhandled 'error'.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
