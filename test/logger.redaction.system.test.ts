import { expect } from 'chai';
import { Writable } from 'node:stream';
import { BULL_BOARD_CSRF_COOKIE, BULL_BOARD_LOGIN_COOKIE, BULL_BOARD_SESSION_COOKIE } from '../src/api/bull-board-router.js';
import { createLogger } from '../src/logger.js';
import { loadConfig } from '../src/config/config.js';
import { startPracticePortals, type PracticePortals } from '../src/portals/practice-portals.js';
import { findDescriptor, providerNames } from '../src/providers/descriptors.js';
import { CALLBACK_SECRET, SYSTEM_API_KEY, startCallbackReceiver, startSystemHarness, waitForJobs, type CallbackReceiver, type SystemHarness } from './support/system-harness.js';
import { testLogger } from './support/shared-services.js';
import { until } from './support/worker-process.js';

const WRONG_PORTAL_PASSWORD = 'Wrong-Evotel-Password-Not-In-Logs-7';
const WRONG_API_KEY = 'rpa_wrong-key-presented-by-a-client-0123';

/**
 * Secrets never reach a log line: the whole system (API, batchers, sandboxed batch processors,
 * browsers, practice portals, callbacks) runs jobs for every provider, a portal refuses a login,
 * a client presents a wrong API key, an operator logs in to Bull Board, callbacks are signed and
 * delivered, all with LOG_LEVEL=debug, and everything logged (this process's logger and the
 * children's stdout and stderr) is searched for every credential.
 */
describe('log redaction across the system at debug level', function () {
  this.timeout(300_000);
  let harness: SystemHarness | undefined;
  let receiver: CallbackReceiver | undefined;
  let evotelPortal: PracticePortals | undefined;
  const captured: string[] = [];
  const restores: Array<() => void> = [];

  /** Children's output reaches this process's stdout and stderr (BullMQ pipes them): take it from there. */
  function captureStdio(): void {
    for (const stream of [process.stdout, process.stderr]) {
      const original = stream.write.bind(stream);
      stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
        captured.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
        const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
        done?.();
        return true;
      }) as typeof stream.write;
      restores.push(() => {
        stream.write = original as typeof stream.write;
      });
    }
  }

  after(async () => {
    for (const restore of restores.splice(0)) restore();
    await harness?.close();
    await receiver?.close();
    await evotelPortal?.close();
  });

  it('writes no portal password, TOTP secret, API key, callback secret, pool token, session id or CSRF token', async () => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        captured.push(chunk.toString());
        done();
      },
    });
    const logger = createLogger({ level: 'debug', destination: sink });
    const evotel = findDescriptor('evotel')!;
    // Evotel's portal knows its practice password; the system is given another one: a refused login.
    evotelPortal = await startPracticePortals({ portals: { evotel: { account: evotel.practiceAccount } }, host: '127.0.0.1', logger: testLogger });
    receiver = await startCallbackReceiver();
    captureStdio();
    harness = await startSystemHarness(
      { LOG_LEVEL: 'debug', EVOTEL_URL: evotelPortal.urls.evotel!, EVOTEL_USERNAME: evotel.practiceAccount.login, EVOTEL_PASSWORD: WRONG_PORTAL_PASSWORD, LOGIN_FAILURE_THRESHOLD: '1' },
      {},
      logger,
    );
    const api = harness.system.apiUrl!;

    // A submitter key of its own, and a client presenting a wrong key.
    const created = await harness.api('POST', '/api-keys', { name: 'ords', role: 'submitter' });
    const submitterKey: string = created.body.key;
    expect((await fetch(`${api}/jobs`, { headers: { authorization: `Bearer ${WRONG_API_KEY}` } })).status).to.equal(401);
    expect((await fetch(`${api}/jobs`, { headers: { 'x-api-key': WRONG_API_KEY } })).status).to.equal(401);

    // Bull Board: a wrong key on the form, then an operator's session.
    const form = await fetch(`${api}/admin/queues/login`);
    const token = /name="csrf" value="([^"]+)"/.exec(await form.text())![1]!;
    const loginCookie = form.headers.getSetCookie().find((c) => c.startsWith(`${BULL_BOARD_LOGIN_COOKIE}=`))!.split(';')[0]!;
    const post = (key: string) =>
      fetch(`${api}/admin/queues/login`, { method: 'POST', body: new URLSearchParams({ key, csrf: token }), headers: { cookie: loginCookie }, redirect: 'manual' });
    expect((await post(WRONG_API_KEY)).status).to.equal(401);
    const session = await post(SYSTEM_API_KEY);
    expect(session.status).to.equal(303);
    const cookies = Object.fromEntries(session.headers.getSetCookie().map((c) => c.split(';')[0]!.split('=') as [string, string]));
    const sessionId = cookies[BULL_BOARD_SESSION_COOKIE]!;
    const csrf = cookies[BULL_BOARD_CSRF_COOKIE]!;
    expect((await fetch(`${api}/admin/queues/api/queues`, { headers: { cookie: `${BULL_BOARD_SESSION_COOKIE}=${sessionId}` } })).status).to.equal(200);

    // Jobs for every provider, validations and cancellations, each with a signed callback.
    const ids: number[] = [];
    const circuits: Record<string, [string, string]> = { octotel: ['OCT123451', 'OCT123453'], openserve: ['OSN1234561', 'OSN1234563'], metrofiber: ['MFN-1234-5671', 'MFN-1234-5673'], evotel: ['EVO123451', 'EVO123453'] };
    for (const provider of providerNames()) {
      const [validate, cancel] = circuits[provider]!;
      for (const [action, circuit_number] of [['validation', validate], ['cancellation', cancel]] as const) {
        const res = await fetch(`${api}/jobs`, {
          method: 'POST',
          headers: { authorization: `Bearer ${submitterKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ provider, action, circuit_number, callback_url: receiver.url, ...(action === 'cancellation' ? { reason: 'migration' } : {}) }),
        });
        expect(res.status, `${provider} ${action}`).to.equal(202);
        ids.push(((await res.json()) as { job_id: number }).job_id);
      }
    }
    const others = ids.slice(0, 6);
    const jobs = await waitForJobs(harness, others, 240_000);
    for (const job of jobs.values()) expect(job.status, JSON.stringify(job)).to.equal('completed');
    await until(async () => receiver!.received.length >= others.length, 60_000, 'callbacks delivered');
    // Evotel's refused login paused it.
    await until(async () => (await harness!.api('GET', '/health')).body.providers?.evotel?.state === 'paused', 120_000, 'evotel paused after its refused login');
    // A job withdrawn (its callback too).
    expect((await fetch(`${api}/jobs/${ids[7]}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${submitterKey}` } })).status).to.equal(200);
    await until(async () => receiver!.received.length >= others.length + 1, 60_000, 'the withdrawn job called back');
    expect((await fetch(`${api}/admin/queues/logout`, { method: 'POST', headers: { cookie: `${BULL_BOARD_SESSION_COOKIE}=${sessionId}`, 'x-xsrf-token': csrf }, redirect: 'manual' })).status).to.equal(303);

    for (const restore of restores.splice(0)) restore();
    const log = captured.join('');
    expect(log.split('\n').length, 'lines logged').to.be.greaterThan(50);
    // The log did capture the system at work, children included.
    expect(log).to.contain('jobs accepted');
    expect(log).to.match(/callback delivered/);
    expect(log).to.match(/"name":"batch-processor"/);
    expect(log).to.match(/"level":20/);
    expect(log).to.match(/LOGIN_REFUSED|login failed/);

    const secrets: Record<string, string> = {
      'bootstrap API key': SYSTEM_API_KEY,
      'created API key': submitterKey,
      'wrong API key a client sent': WRONG_API_KEY,
      'callback secret': CALLBACK_SECRET,
      'evotel password given': WRONG_PORTAL_PASSWORD,
      'Bull Board session id': sessionId,
      'Bull Board CSRF token': csrf,
    };
    for (const provider of ['octotel', 'openserve', 'metrofiber', 'evotel']) {
      const account = findDescriptor(provider)!.practiceAccount;
      secrets[`${provider} password`] = account.password;
      if (account.totpSecret) secrets[`${provider} TOTP secret`] = account.totpSecret;
    }
    for (const [id, poolToken] of Object.entries(harness.system.runtime?.poolTokens ?? {})) secrets[`pool token ${id}`] = poolToken;
    if (harness.system.runtime?.browserPool) secrets['browser pool token'] = harness.system.runtime.browserPool.token;
    expect(Object.keys(secrets).some((k) => k.startsWith('pool token') || k === 'browser pool token'), 'a pool token to look for').to.equal(true);
    for (const [what, value] of Object.entries(secrets)) {
      const at = log.indexOf(value);
      expect(at, `${what} appears in the log: …${log.slice(Math.max(0, at - 300), at + 100)}…`).to.equal(-1);
    }
  });
});

describe('createLogger: the redaction paths', () => {
  it('blanks every credential of the configuration, the runtime and a request, wherever a log object puts them', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger = createLogger({ level: 'debug', destination: sink });
    const config = loadConfig({
      env: {
        RPA_API_KEY: 'bootstrap-key-0123456789abcdef',
        CALLBACK_SECRET: 'callback-secret-0123456789',
        BROWSER_POOL_TOKEN: 'pool-token-0123456789abcdef',
        DATABASE_URL: 'postgres://rpa:db-password-42@db:5432/rpa',
        VALKEY_URL: 'redis://:valkey-password-42@valkey:6379',
        OCTOTEL_URL: 'https://portal.octotel.example',
        OCTOTEL_USERNAME: 'rpa',
        OCTOTEL_PASSWORD: 'octotel-password-42',
        OCTOTEL_TOTP_SECRET: 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ',
      },
    });
    const runtime = { databaseUrl: config.databaseUrl, valkeyUrl: config.valkeyUrl, portalUrls: {}, browserPool: { url: 'http://pool', token: 'pool-token-0123456789abcdef' }, poolTokens: { p1: 'directory-token-0123456789' } };
    logger.info({ config }, 'the whole configuration');
    logger.info(config, 'the configuration as the object');
    logger.info({ runtime }, 'the runtime');
    logger.info({ provider: config.providers.octotel }, 'one provider');
    logger.info({ req: { headers: { authorization: 'Bearer rpa_key-in-a-header-1', 'x-api-key': 'rpa_key-in-a-header-2', cookie: 'rpa_board_session=session-id-in-a-cookie', 'x-xsrf-token': 'csrf-in-a-header' } } }, 'a request');
    logger.info({ res: { headers: { 'set-cookie': ['rpa_board_session=session-id-set'] } } }, 'an answer');
    logger.info({ session: { csrf: 'csrf-of-a-session', sessionId: 'session-id-of-a-session' } }, 'a session');
    const text = lines.join('');
    expect(lines).to.have.length(7);
    for (const value of [
      'bootstrap-key-0123456789abcdef',
      'callback-secret-0123456789',
      'pool-token-0123456789abcdef',
      'db-password-42',
      'valkey-password-42',
      'octotel-password-42',
      'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ',
      'directory-token-0123456789',
      'rpa_key-in-a-header-1',
      'rpa_key-in-a-header-2',
      'session-id-in-a-cookie',
      'csrf-in-a-header',
      'session-id-set',
      'csrf-of-a-session',
      'session-id-of-a-session',
      // The practice accounts of the providers left on their practice portals.
      ...['openserve', 'metrofiber', 'evotel'].map((p) => findDescriptor(p)!.practiceAccount.password),
    ]) {
      expect(text, value).to.not.include(value);
    }
    expect(text).to.include('[redacted]');
    expect(text).to.include('https://portal.octotel.example');
  });
});
