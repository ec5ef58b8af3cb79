import { expect } from 'chai';
import { sql } from 'kysely';
import { createDb, pingDatabase, type Db } from '../../src/db/database.js';
import { coerceError } from '../../src/errors/coerce-error.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

/** The pool's connections when their Postgres backend goes away under them (real server). */
describe('createDb: a connection cut under a transaction', function () {
  this.timeout(30_000);
  let database: TestDatabase;
  let db: Db;
  const uncaught: Error[] = [];
  const onUncaught = (error: Error) => uncaught.push(error);
  let mochaHandlers: NodeJS.UncaughtExceptionListener[] = [];

  before(async () => {
    database = await createTestDatabase({ migrate: false });
    db = createDb(database.url, { max: 2 });
  });
  after(async () => {
    await db?.destroy();
    await database?.drop();
  });
  beforeEach(() => {
    // Mocha's own handler would fail the test on the first uncaught error; count them instead.
    mochaHandlers = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', onUncaught);
  });
  afterEach(() => {
    process.removeListener('uncaughtException', onUncaught);
    for (const handler of mochaHandlers) process.on('uncaughtException', handler);
  });

  it('does not crash the process when the backend is terminated between two queries; the next query fails as SERVICE_UNAVAILABLE and the pool goes on', async () => {
    const killer = createDb(database.url, { max: 1 });
    try {
      const outcome = await db
        .transaction()
        .execute(async (trx) => {
          const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
          // "terminating connection due to administrator command" (57P01) arrives while no query runs.
          await sql`select pg_terminate_backend(${rows[0]!.pid})`.execute(killer);
          await new Promise((r) => setTimeout(r, 300));
          await sql`select 1`.execute(trx);
          return 'committed';
        })
        .catch((error: unknown) => error);
      expect(uncaught.map((e) => e.message)).to.deep.equal([]);
      expect(outcome).to.be.instanceOf(Error);
      expect(coerceError(outcome).code).to.equal('SERVICE_UNAVAILABLE');
      await pingDatabase(db);
      await pingDatabase(db);
    } finally {
      await killer.destroy();
    }
  });
});
