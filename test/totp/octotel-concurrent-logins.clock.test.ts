import { randomBytes } from 'node:crypto';
import { EvidenceRecorder } from '../../src/evidence/evidence-recorder.js';
import { FsEvidenceStore } from '../../src/evidence/fs-evidence-store.js';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Redis } from 'iovalkey';
import type { BrowserLease } from '../../src/browser/client/browser-lease.js';
import { PoolClient } from '../../src/browser/client/pool-client.js';
import { startPoolServer, type PoolServer } from '../../src/browser/pool/pool-server.js';
import { defaultChromiumPath } from '../../src/config/settings.js';
import { startPracticePortal, type PracticePortal } from '../../src/portals/practice-portals.js';
import octotel from '../../src/providers/octotel/index.js';
import { octotelDescriptor } from '../../src/providers/octotel/descriptor.js';
import { ProviderSession } from '../../src/providers/provider-session.js';
import { stepAt } from '../../src/totp/totp-code.js';
import { createTotpHooks, type TotpHooks } from '../../src/totp/totp-hooks.js';
import { TotpManager } from '../../src/totp/totp-manager.js';
import { testLogger, testRoot, uniquePrefix } from '../support/shared-services.js';
import type { PortalStats } from '../providers/provider-test-kit.js';
import { connectSharedValkey } from './totp-test-support.js';

const LOGINS = 6;
const account = octotelDescriptor.practiceAccount;

async function control(portal: PracticePortal, method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${portal.url}/__sandbox/${path}`, {
    method,
    headers: body === undefined ? undefined : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`control ${method} ${path} answered ${response.status}`);
  return response.json();
}

/**
 * The end-to-end check of the TOTP manager: six Octotel logins at once, through the
 * browser pool, against the practice portal, all served by one manager. Takes minutes: the
 * logins are spread over six 30 s steps (five with a lookahead of one).
 */
describe('Octotel: concurrent logins share one TOTP account without replays (real Chromium, pool, portal, Valkey)', function () {
  this.timeout(360_000);

  let redis: Redis;
  let portal: PracticePortal;
  let pool: PoolServer;
  let client: PoolClient;

  before(async function () {
    redis = await connectSharedValkey();
    portal = await startPracticePortal('octotel', { port: 0, account: { ...account }, logger: testLogger });
    const chromiumPath = defaultChromiumPath();
    if (!chromiumPath) throw new Error('no Chromium installed (expected /usr/bin/chromium)');
    const token = randomBytes(24).toString('hex');
    pool = await startPoolServer({
      size: 2,
      chromiumPath,
      token,
      host: '127.0.0.1',
      maxContextsPerBrowser: 3,
      retireAfterContexts: 100,
      maxMemoryMb: 4096,
      logger: testLogger,
    });
    client = new PoolClient({ url: pool.url, token, logger: testLogger });
  });

  after(async function () {
    await client?.close();
    await pool?.close();
    await portal?.close();
    redis?.disconnect();
  });

  for (const { window, lookahead } of [
    { window: 0, lookahead: 0 },
    { window: 1, lookahead: 1 },
  ]) {
    it(`totp_window ${window} (manager lookahead ${lookahead}): ${LOGINS} logins all succeed on ${LOGINS} distinct consecutive steps, no replay`, async function () {
      await control(portal, 'POST', 'reset');
      await control(portal, 'POST', 'config', { totp_window: window, max_sessions: LOGINS });
      const manager = new TotpManager({ redis, prefix: uniquePrefix('totp-octotel'), logger: testLogger, lookaheadSteps: { octotel: lookahead } });
      const firstPossibleStep = stepAt(Date.now());
      const leases: BrowserLease[] = [];
      const sessions: ProviderSession[] = [];
      const hooks: TotpHooks[] = [];

      const login = async (index: number): Promise<void> => {
        const totp = createTotpHooks(manager, { provider: 'octotel', account: account.login, secret: account.totpSecret! });
        hooks.push(totp);
        try {
          // Queue for a step now; lease a context and start the login shortly before it.
          await totp.prepare();
          const lease = await client.lease({ timeoutMs: 60_000 });
          leases.push(lease);
          const session = new ProviderSession({
            automation: octotel.automation,
            context: lease.context,
            baseUrl: portal.url,
            credentials: { login: account.login, password: account.password },
            getTotp: totp.getTotp,
            reportTotp: totp.reportTotp,
            evidence: new EvidenceRecorder(new FsEvidenceStore(join(testRoot(), 'evidence-totp'))),
            batchId: `totp-window-${window}-login-${index}`,
            logger: testLogger,
          });
          sessions.push(session);
          await session.login();
        } finally {
          await totp.release();
        }
      };

      try {
        const results = await Promise.allSettled(Array.from({ length: LOGINS }, (_, i) => login(i)));
        const failures = results.flatMap((r) => (r.status === 'rejected' ? [String((r.reason as Error).message)] : []));
        expect(failures, 'failed logins').to.deep.equal([]);

        const stats = (await control(portal, 'GET', 'stats')) as PortalStats;
        expect(stats.logins_ok).to.equal(LOGINS);
        expect(stats.totp_ok).to.equal(LOGINS);
        expect(stats.totp_rejected_reused).to.equal(0);
        expect(stats.totp_rejected_invalid).to.equal(0);
        expect(stats.logins_failed).to.equal(0);
        expect(stats.active_sessions).to.equal(LOGINS);

        // One code per login, each on its own step, the steps back to back from the first usable one.
        const steps = hooks.flatMap((h) => h.steps).sort((a, b) => a - b);
        expect(steps).to.have.length(LOGINS);
        expect(steps).to.deep.equal(Array.from({ length: LOGINS }, (_, i) => steps[0]! + i));
        expect(steps[0]).to.be.within(firstPossibleStep, firstPossibleStep + 1);

        expect(await manager.stats()).to.deep.equal({ octotel: { generated: LOGINS, consumed: LOGINS, accepted: LOGINS, refused: 0 } });
      } finally {
        await Promise.allSettled(sessions.map((s) => s.close()));
        await Promise.allSettled(leases.map((l) => l.release()));
        await manager.close();
      }
      expect(((await control(portal, 'GET', 'stats')) as PortalStats).active_sessions).to.equal(0);
    });
  }
});
