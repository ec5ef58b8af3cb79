import { expect } from 'chai';
import type { Redis } from 'iovalkey';
import { createFleet } from '../../../src/browser/browser-options.js';
import { poolToken } from '../../../src/browser/client/pool-token.js';
import type { Fleet } from '../../../src/browser/fleet/fleet.js';
import { loadConfig } from '../../../src/config/config.js';
import { nextScheduleRuns } from '../../../src/db/schedule-store.js';
import { QueueRegistry } from '../../../src/queues/queue-registry.js';
import { createValkey } from '../../../src/queues/valkey.js';
import { sharedValkey, testLogger, uniquePrefix } from '../../support/shared-services.js';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.js';
import { FakeKubeApiServer, FakePoolHealth } from '../fake-kube-api-server.js';
import { waitFor } from '../pool-fixture.js';

const NS = 'rpa-prewarm';
const TOKEN = 'prewarm-pool-token-0123456789abcdef';

/** `M H * * *` for the first whole minute at least `aheadMs` from now, in UTC. */
function cronAtLeast(aheadMs: number): { cron: string; at: Date } {
  const at = new Date(Math.ceil((Date.now() + aheadMs) / 60_000) * 60_000);
  return { cron: `${at.getUTCMinutes()} ${at.getUTCHours()} * * *`, at };
}

describe('warm pools ahead of a schedule (real Postgres schedules, real Valkey, fake API server)', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let api: FakeKubeApiServer;
  let health: FakePoolHealth;
  let redis: Redis;
  let queues: QueueRegistry;
  let fleet: Fleet | undefined;

  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => {
    await database?.drop();
  });
  beforeEach(async () => {
    await database.db.deleteFrom('schedules').execute();
    api = await new FakeKubeApiServer().start();
    health = await new FakePoolHealth(TOKEN).start();
    redis = createValkey((await sharedValkey()).url, 'producer');
  });
  afterEach(async () => {
    await fleet?.close();
    fleet = undefined;
    await queues?.close();
    redis.disconnect();
    await api.close();
    await health.close();
  });

  const schedule = (name: string, cron: string, timezone: string, jobCount = 5) =>
    database.db
      .insertInto('schedules')
      .values({ name, cron, timezone, provider: 'openserve', action: 'validation', request: JSON.stringify({ provider: 'openserve', action: 'validation', jobs: [] }), job_count: jobCount, created_by: 'test' })
      .returning('id')
      .executeTakeFirstOrThrow();

  it('nextScheduleRuns: each schedule\'s next run in its own time zone, soonest first, within the window', async () => {
    const morning = await schedule('jhb-morning', '0 9 * * *', 'Africa/Johannesburg', 40);
    const london = await schedule('london-morning', '30 8 * * 1-5', 'Europe/London');
    await schedule('broken', 'not a cron', 'UTC');
    const from = new Date('2026-11-23T06:00:00Z'); // Monday
    const runs = await nextScheduleRuns(database.db, from, new Date('2026-11-23T09:00:00Z'));
    expect(runs).to.deep.equal([
      { scheduleId: String(morning.id), at: new Date('2026-11-23T07:00:00Z'), jobCount: 40 }, // 09:00 SAST
      { scheduleId: String(london.id), at: new Date('2026-11-23T08:30:00Z'), jobCount: 5 }, // 08:30 GMT
    ]);
    expect(await nextScheduleRuns(database.db, from, new Date('2026-11-23T07:30:00Z'))).to.have.length(1);
  });

  it('the leader starts a pool ahead of a schedule due within BROWSER_PREWARM_MS, with nothing queued and outside business hours', async () => {
    api.seedPod(NS, { metadata: { name: 'rpa-worker-0', uid: 'uid-0' }, status: { phase: 'Running' } });
    const prefix = uniquePrefix('prewarm');
    const config = loadConfig({
      env: {
        QUEUE_PREFIX: prefix,
        BROWSER_MANAGER_MODE: 'kubernetes',
        BROWSER_POOL_TOKEN: TOKEN,
        BROWSER_K8S_NAMESPACE: NS,
        BROWSER_K8S_POOL_PORT: String(health.port),
        BROWSER_K8S_OWNER_POD_NAME: 'rpa-worker-0',
        BROWSER_K8S_OWNER_POD_UID: 'uid-0',
        BROWSER_WARM_MIN: '1',
        BROWSER_PREWARM_MS: '600000',
        BROWSER_JOBS_PER_POOL: '20',
        BROWSER_READY_TIMEOUT_MS: '10000',
      },
    });
    queues = new QueueRegistry(redis, prefix);
    // A schedule two hours away: outside the lead time, nothing is warmed for it.
    const later = cronAtLeast(2 * 3_600_000);
    await schedule('later', later.cron, 'UTC');
    fleet = createFleet(config, poolToken(TOKEN), { redis, queues, db: database.db, logger: testLogger, kubeConfig: api.kubeConfig() });
    await fleet.start();
    expect(fleet.isLeader()).to.equal(true);
    expect((await fleet.health()).last_round).to.include({ ok: true, warm: 0, queued: 0 });
    expect(api.requestsFor('POST', /\/pods$/)).to.have.length(0);

    // One due in about three minutes: its first batch must find a warm browser.
    const soon = cronAtLeast(3 * 60_000);
    await schedule('soon', soon.cron, 'UTC', 30);
    await waitFor('pool pods started ahead of the run, ready in the directory', async () => (await fleet!.health()).pools === 2, 15_000);
    expect(Date.now(), 'before the run').to.be.lessThan(soon.at.getTime());
    expect(api.requestsFor('POST', /\/pods$/), 'as many as its 30 jobs want: ceil(30 / 20)').to.have.length(2);
    expect((await fleet.health()).last_round).to.include({ ok: true, queued: 0, warm: 2 });
  });
});
