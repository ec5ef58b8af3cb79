import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { freePort } from '../../src/infra/free-port.js';
import { expectedCircuit } from '../portals/support/derived-expectations.js';
import { sharedValkey, testRoot, uniquePrefix } from '../support/shared-services.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { exited, until } from '../support/worker-process.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const FROGFOOT = fileURLToPath(new URL('../fixtures/providers/frogfoot/index.js', import.meta.url));
const FROGFOOT_WITHOUT_PORTAL = fileURLToPath(new URL('../fixtures/providers/frogfoot/without-practice-portal.js', import.meta.url));
const API_KEY = 'plugin-e2e-admin-key-0123456789abcdef';

/** `node dist/src/main.js` (what `npm start` runs) with the given settings on top of this process's environment. */
function startMain(env: Record<string, string>): { child: ChildProcess; stderr: () => string } {
  let stderr = '';
  const child = spawn(process.execPath, [MAIN], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return { child, stderr: () => stderr };
}

describe('a fifth provider loaded from RPA_PROVIDER_MODULES, end to end (start-up → HTTP API → batcher → sandboxed processor → browser pool → its own practice portal)', function () {
  this.timeout(300_000);
  let database: TestDatabase;
  let main: ReturnType<typeof startMain>;
  let api: string;
  let portal: string;

  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any; text: string }> => {
    const res = await fetch(api + path, {
      method,
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Prometheus text and the like.
    }
    return { status: res.status, body: parsed, text };
  };

  before(async () => {
    database = await createTestDatabase({ migrate: false });
    const valkey = await sharedValkey();
    const [apiPort, portalPort] = [await freePort(), await freePort()];
    api = `http://127.0.0.1:${apiPort}`;
    portal = `http://127.0.0.1:${portalPort}`;
    main = startMain({
      RPA_PROVIDER_MODULES: FROGFOOT,
      RPA_DATA_DIR: join(testRoot(), uniquePrefix('plugin')),
      DATABASE_URL: database.url,
      VALKEY_URL: valkey.url,
      QUEUE_PREFIX: uniquePrefix('plugin'),
      RPA_API_KEY: API_KEY,
      PORT: String(apiPort),
      HOST: '127.0.0.1',
      FROGFOOT_PORT: String(portalPort),
      BATCH_MAX_WAIT_MS: '500',
      BROWSER_POOL_SIZE: '1',
      CALLBACK_ALLOW_HOSTS: '127.0.0.1:*',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    });
    await until(
      async () => {
        if (main.child.exitCode !== null) throw new Error(`the system exited with ${main.child.exitCode}: ${main.stderr().slice(-2000)}`);
        return fetch(`${api}/health/ready`).then((r) => r.ok, () => false);
      },
      120_000,
      'the system to be ready',
    );
  });

  after(async () => {
    if (main?.child.exitCode === null) {
      main.child.kill('SIGTERM');
      const stopped = await Promise.race([exited(main.child), new Promise((r) => setTimeout(() => r('timeout'), 60_000))]);
      if (stopped === 'timeout') main.child.kill('SIGKILL');
    }
    await database?.drop();
  });

  it('validates and cancels Frogfoot circuits by the contract, on Frogfoot\'s portal, seen by validation, health, metrics and Bull Board', async () => {
    // API validation reads the plugin's circuit format.
    const bad = await call('POST', '/jobs', { provider: 'frogfoot', action: 'validation', circuit_number: 'FRG12' });
    expect(bad.status, bad.text).to.equal(400);
    expect(bad.body.error.field).to.equal('circuit_number');

    const jobs = [
      { action: 'validation', circuit_number: 'FRG123451' },
      { action: 'validation', circuit_number: 'FRG123450' },
      { action: 'validation', circuit_number: 'FRG123459' },
      { action: 'cancellation', circuit_number: 'FRG123461', reason: 'migration' },
      { action: 'cancellation', circuit_number: 'FRG123469' },
    ];
    const ids: number[] = [];
    for (const job of jobs) {
      const res = await call('POST', '/jobs', { provider: 'frogfoot', ...job });
      expect(res.status, res.text).to.equal(202);
      ids.push(res.body.job_id);
    }
    const done = new Map<number, any>();
    await until(
      async () => {
        for (const id of ids) {
          if (done.has(id)) continue;
          const res = await call('GET', `/jobs/${id}`);
          if (['completed', 'failed', 'cancelled'].includes(res.body.status)) done.set(id, res.body);
        }
        return done.size === ids.length;
      },
      180_000,
      'the Frogfoot jobs to end',
    );
    const [active, missing, cancelledBefore, cancellation, alreadyCancelled] = ids.map((id) => done.get(id));
    for (const job of done.values()) expect(job.status, JSON.stringify(job.error)).to.equal('completed');

    const want = expectedCircuit('FRG123451', 'FRG')!;
    expect(active.result).to.deep.equal({ found: true, circuit_number: 'FRG123451', status: 'active', customer: want.customer, address: want.address, speed: want.speed, cancellation_reference: null });
    expect(missing.result).to.deep.equal({ found: false, circuit_number: 'FRG123450' });
    expect(cancelledBefore.result).to.include({ found: true, status: 'cancelled', cancellation_reference: 'FRG-CAN-923459' });
    expect(cancellation.result).to.deep.equal({ found: true, circuit_number: 'FRG123461', cancelled: true, already_cancelled: false, reference: 'FRG-CAN-000001' });
    expect(cancellation.evidence.length).to.be.greaterThan(0);
    expect(alreadyCancelled.result).to.deep.equal({ found: true, circuit_number: 'FRG123469', cancelled: true, already_cancelled: true, reference: 'FRG-CAN-923469' });

    // The portal that answered was Frogfoot's own practice portal, on FROGFOOT_PORT.
    const stats = await fetch(`${portal}/__sandbox/stats`).then((r) => r.json());
    expect(stats.cancellations).to.deep.equal({ FRG123461: 1 });
    expect(stats.duplicate_cancel_attempts).to.equal(0);
    expect(stats.logins_ok).to.be.at.least(1);

    // Health, metrics and Bull Board list the plugin's queues and jobs.
    const health = (await call('GET', '/health')).body;
    expect(health.queues).to.have.property('frogfoot');
    expect(health.practice_portals).to.have.property('frogfoot', portal);
    const metrics = await call('GET', '/metrics');
    expect(metrics.text).to.match(/rpa_jobs\{provider="frogfoot"/);
    const board = await call('GET', '/admin/queues/api/queues');
    expect(board.body.queues.map((q: { name: string }) => q.name)).to.include.members(['jobs-frogfoot', 'batches-frogfoot', 'batch-run-frogfoot']);
  });
});

describe('start-up with a plugin provider that has no practice portal and no <NAME>_URL', function () {
  this.timeout(60_000);

  it('stops with a configuration error naming FROGFOOT_URL', async () => {
    const main = startMain({ RPA_PROVIDER_MODULES: FROGFOOT_WITHOUT_PORTAL, RPA_DATA_DIR: join(testRoot(), uniquePrefix('no-portal')), LOG_LEVEL: 'silent' });
    expect(await exited(main.child)).to.equal(78);
    expect(main.stderr()).to.contain('configuration error').and.contain('FROGFOOT_URL');
  });

  it('stops with a configuration error naming RPA_PROVIDER_MODULES for a module that is not there', async () => {
    const main = startMain({ RPA_PROVIDER_MODULES: join(testRoot(), 'no-such-provider.js'), RPA_DATA_DIR: join(testRoot(), uniquePrefix('no-module')), LOG_LEVEL: 'silent' });
    expect(await exited(main.child)).to.equal(78);
    expect(main.stderr()).to.contain('RPA_PROVIDER_MODULES');
  });
});
