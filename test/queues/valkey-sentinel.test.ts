import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import { createValkey, type ValkeyClient } from '../../src/queues/valkey.js';
import { startSentinelGroup, type SentinelGroup } from '../support/sentinel-group.js';
import { valkeySettingsFor } from '../../src/config/valkey-endpoint.js';
import { testRoot, uniquePrefix } from '../support/shared-services.js';
import { until } from '../support/worker-process.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * createValkey through iovalkey's Sentinel support, against a real master, replica and three
 * sentinels: the master is killed with -9 and the connections follow the promoted replica.
 */
describe('createValkey through Sentinel (a master, a replica, three sentinels; real processes)', function () {
  this.timeout(240_000);
  let group: SentinelGroup;
  const clients: ValkeyClient[] = [];
  const open = (kind: 'worker' | 'producer') => {
    const client = createValkey(group.endpoint, kind);
    clients.push(client);
    return client;
  };

  before(async () => {
    group = await startSentinelGroup();
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await group?.stop();
  });

  it('follows a failover: master killed with -9, replica promoted, a worker connection\'s commands go on without an error, BullMQ jobs before and after it all run', async () => {
    const worker = open('worker');
    const producer = open('producer');
    const prefix = `{${uniquePrefix('sentinel')}}`;
    const first = await group.master();
    expect(await worker.set(`${prefix}:before`, 'kept')).to.equal('OK');
    // Replicated before the kill (replication is asynchronous; WAIT makes this write safe).
    expect(await worker.call('WAIT', '1', '5000')).to.equal(1);

    const queue = new Queue('failover', { connection: producer as unknown as ConnectionOptions, prefix });
    queue.on('error', () => undefined);
    const ran = new Set<string>();
    const bullWorker = new Worker('failover', async (job) => void ran.add(job.id!), { connection: worker as unknown as ConnectionOptions, prefix, concurrency: 2 });
    bullWorker.on('error', () => undefined);
    const added: string[] = [];
    for (let i = 0; i < 5; i++) added.push((await queue.add('j', { i }, { jobId: `before-${i}` })).id!);
    await until(async () => added.every((id) => ran.has(id)), 30_000, 'the jobs added before the failover to run');

    // A stream of commands on the worker connection, across the failover.
    const errors: string[] = [];
    let done = 0;
    let stop = false;
    const stream = (async () => {
      while (!stop) {
        try {
          await worker.incr(`${prefix}:counter`);
          done++;
        } catch (err) {
          errors.push((err as Error).message);
        }
      }
    })();
    await until(async () => done > 100, 30_000, 'commands to flow');
    const { killed, promoted } = await group.failOver();
    expect(killed).to.equal(first.port);
    const atFailover = done;
    await until(async () => done > atFailover + 100, 60_000, 'commands to flow again after the failover');
    stop = true;
    await stream;
    expect(errors, 'commands of the worker connection that failed').to.deep.equal([]);

    // On the promoted server now, with what was replicated before the kill.
    expect(await worker.get(`${prefix}:before`)).to.equal('kept');
    expect(((await worker.call('ROLE')) as unknown[])[0]).to.equal('master');
    expect(Number(((await worker.call('CONFIG', 'GET', 'port')) as string[])[1])).to.equal(promoted);
    // A producer fails fast while there is no master, and works again once there is one.
    await until(async () => (await producer.ping().catch(() => '')) === 'PONG', 30_000, 'the producer connection to reach the new master');
    for (let i = 0; i < 5; i++) added.push((await queue.add('j', { i }, { jobId: `after-${i}` })).id!);
    await until(async () => added.every((id) => ran.has(id)), 60_000, 'every job, before and after the failover, to run');
    await bullWorker.close();
    await queue.close();

    // The CLI finds the master through the same settings.
    const { stdout } = await promisify(execFile)(process.execPath, [join(ROOT, 'bin', 'rpa.mjs'), 'totp', 'status', '--json'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, RPA_DATA_DIR: join(testRoot(), uniquePrefix('cli')), ...valkeySettingsFor(group.endpoint) },
    });
    expect(JSON.parse(stdout)).to.have.property('providers');

    // The old master, restarted, comes back as a replica of the new one.
    await group.servers.get(killed)!.restart();
    await until(async () => (await group.roles())[killed] === 'slave', 60_000, 'the old master to rejoin as a replica');
    expect((await group.master()).port).to.equal(promoted);
  });
});
