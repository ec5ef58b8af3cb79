import { expect } from 'chai';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../src/infra/free-port.js';
import { expectedValidation } from '../support/expected-circuit.js';
import { mountSecret, type MountedSecret } from '../support/mounted-secret.js';
import { startPortalProcess, type PortalProcess } from '../support/portal-process.js';
import { testRoot, uniquePrefix } from '../support/shared-services.js';
import { startSystemHarness, waitForJobs, type SystemHarness } from '../support/system-harness.js';
import { capturingLogger } from '../totp/totp-test-support.js';
import { until } from '../support/worker-process.js';

const LOGIN = 'rotation.user';
const OLD_PASSWORD = 'Old-Rotated-Password-Never-Logged-1';
const NEW_PASSWORD = 'New-Rotated-Password-Never-Logged-2';

type Stats = { logins_ok: number; logins_failed: number };

/**
 * issue 14, "secrets that rotate": the password of a portal account is changed on the portal
 * (a practice Evotel in its own process, restarted on the same port with the new password, its
 * account given at start as SPEC.md says) and in the Secret the workers mount (SECRETS_DIR laid
 * out as the kubelet does, swapped in one rename) while jobs keep coming. Later batches log in
 * with the new password without a restart, the log names the setting that changed but never a
 * value, and no job fails.
 */
describe('rotating a portal password and its Secret file mid-run', function () {
  this.timeout(300_000);
  let port: number;
  let portal: PortalProcess | undefined;
  let secret: MountedSecret;
  let harness: SystemHarness;
  const log = capturingLogger();
  const portalEnv = (password: string) => ({ EVOTEL_PORT: String(port), EVOTEL_USERNAME: LOGIN, EVOTEL_PASSWORD: password });
  const stats = async (): Promise<Stats> => (await fetch(`${portal!.urls.evotel}/__sandbox/stats`)).json() as Promise<Stats>;

  before(async () => {
    port = await freePort();
    portal = await startPortalProcess(portalEnv(OLD_PASSWORD));
    secret = mountSecret(join(testRoot(), uniquePrefix('fno-credentials')), { 'evotel-username': LOGIN, 'evotel-password': OLD_PASSWORD });
    harness = await startSystemHarness(
      {
        SECRETS_DIR: secret.dir,
        EVOTEL_URL: portal.urls.evotel!,
        BATCH_SIZE: '2',
        BATCH_MAX_WAIT_MS: '300',
        EVOTEL_MAX_SESSIONS: '2',
        // A refused login (the portal has the new password, the file not yet) cools down briefly.
        LOGIN_COOLDOWN_MS: '1000',
      },
      { logger: log.logger },
    );
  });
  after(async () => {
    await harness?.close();
    await portal?.stop();
  });

  it('later batches log in with the new password, the log names EVOTEL_PASSWORD and no value, no job fails', async () => {
    const ids: number[] = [];
    const expected = new Map<number, Record<string, unknown>>();
    let submitting = true;
    let n = 0;
    // A stream of jobs, two at a time, through the whole rotation.
    const stream = (async () => {
      while (submitting) {
        const circuits = [0, 1].map(() => `EVO${String(810_000 + ++n * 10 + (n % 9) + 1).slice(-6)}`);
        const res = await harness.api('POST', '/jobs/bulk', { provider: 'evotel', action: 'validation', jobs: circuits.map((circuit_number) => ({ circuit_number })) });
        expect(res.status, JSON.stringify(res.body)).to.equal(202);
        res.body.job_ids.forEach((id: number, i: number) => expected.set(id, expectedValidation('evotel', circuits[i]!)));
        ids.push(...res.body.job_ids);
        await sleep(700);
      }
    })();
    const completed = async () => (await harness.database.db.selectFrom('jobs').select('id').where('status', '=', 'completed').execute()).length;
    await until(async () => (await completed()) >= 4, 120_000, 'the first jobs to complete with the old password');
    const before = await stats();
    expect(before.logins_ok, 'logins with the old password').to.be.greaterThan(0);

    // The FNO side: the account's password changes (the portal restarts with it, same port) …
    await portal!.stop();
    portal = await startPortalProcess(portalEnv(NEW_PASSWORD));
    // … and the operator updates the Secret; the kubelet swaps the mounted files.
    secret.update({ 'evotel-username': LOGIN, 'evotel-password': NEW_PASSWORD });
    const rotatedAt = ids.length;

    await until(async () => (await stats()).logins_ok >= 2, 120_000, 'two logins with the new password');
    await sleep(3_000);
    submitting = false;
    await stream;
    expect(ids.length - rotatedAt, 'jobs submitted after the rotation').to.be.greaterThan(2);

    const jobs = await waitForJobs(harness, ids, 180_000);
    for (const [id, job] of jobs) {
      expect(job.status, `job ${id}: ${JSON.stringify(job.error)}`).to.equal('completed');
      expect(job.result).to.deep.equal(expected.get(id));
    }
    const after = await stats();
    expect(after.logins_ok, 'logins with the new password (the portal restarted with it)').to.be.greaterThan(0);
    // Only in the moment between the portal's change and the file's (the files are polled every 2 s).
    expect(after.logins_failed, 'refused logins after the rotation').to.be.at.most(3);
    const provider = (await harness.api('GET', '/health')).body.providers.evotel;
    expect(provider.state, JSON.stringify(provider)).to.equal('running');

    const output = log.output();
    const changed = output.split('\n').filter((line) => line.includes('"setting":"EVOTEL_PASSWORD"') && line.includes('EVOTEL_PASSWORD changed'));
    expect(changed.length, 'a log line naming the setting that changed').to.be.greaterThan(0);
    for (const password of [OLD_PASSWORD, NEW_PASSWORD]) expect(output, 'a password in the log').not.to.include(password);
    expect(JSON.stringify((await harness.api('GET', '/health')).body)).not.to.include(NEW_PASSWORD);
  });
});
