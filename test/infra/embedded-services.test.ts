import { expect } from 'chai';
import { join } from 'node:path';
import pg from 'pg';
import { Redis } from 'iovalkey';
import { startEmbeddedPostgres } from '../../src/infra/embedded-postgres.js';
import { privateValkey, testLogger, testRoot } from '../support/shared-services.js';

describe('embedded services', () => {
  it('Postgres keeps its data across a restart of the server', async () => {
    const dir = join(testRoot(), 'pg-restart');
    const first = await startEmbeddedPostgres(dir, testLogger);
    let client = new pg.Client({ connectionString: first.url });
    await client.connect();
    await client.query('CREATE TABLE kept (v text)');
    await client.query("INSERT INTO kept VALUES ('survives')");
    await client.end();
    await first.stop();

    const second = await startEmbeddedPostgres(dir, testLogger);
    client = new pg.Client({ connectionString: second.url });
    await client.connect();
    const { rows } = await client.query('SELECT v FROM kept');
    await client.end();
    await second.stop();
    expect(rows).to.deep.equal([{ v: 'survives' }]);
  });

  it('Valkey runs with noeviction and AOF, and keeps data across a restart', async () => {
    const valkey = await privateValkey();
    try {
      let client = new Redis(valkey.url);
      expect(await client.config('GET', 'maxmemory-policy')).to.deep.equal(['maxmemory-policy', 'noeviction']);
      expect(await client.config('GET', 'appendonly')).to.deep.equal(['appendonly', 'yes']);
      await client.set('kept', 'survives');
      client.disconnect();
      await valkey.restart();
      client = new Redis(valkey.url);
      expect(await client.get('kept')).to.equal('survives');
      client.disconnect();
    } finally {
      await valkey.stop();
    }
  });
});
