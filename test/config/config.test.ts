import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configSources, loadConfig } from '../../src/config/config.js';
import { PROCESS_CONTEXT_VAR, childEnvironment, freezeRuntime, inheritedContext } from '../../src/config/runtime.js';
import { settingsMarkdown } from '../../src/config/settings-table.js';
import { isRpaError } from '../../src/errors/failures.js';

const README = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', 'README.md');

function refusal(env: NodeJS.ProcessEnv): { code: string; message: string; field?: string } {
  try {
    loadConfig({ env });
  } catch (error) {
    if (isRpaError(error)) return error;
    throw error;
  }
  throw new Error('loadConfig accepted it');
}

describe('configuration', () => {
  it('has a default for every setting and runs every provider on its practice portal without any', () => {
    const config = loadConfig({ env: {}, cwd: '/srv/app' });
    expect(config).to.include({ port: 8620, host: '0.0.0.0', batchSize: 50, queuePrefix: 'rpa', dataDir: '/srv/app/data', evidenceDir: '/srv/app/data/evidence' });
    expect(config.roles).to.deep.equal(['api', 'batcher', 'worker', 'browser', 'portals', 'maintenance']);
    expect(Object.values(config.providers).every((p) => p.practice && p.url === undefined)).to.equal(true);
    expect(config.providers.octotel!.totpSecret).to.be.a('string');
    expect(config.callbackAllowHosts).to.deep.equal([]);
  });

  it('is frozen all the way down', () => {
    const config = loadConfig({ env: {} });
    expect(Object.isFrozen(config)).to.equal(true);
    expect(Object.isFrozen(config.browserPool)).to.equal(true);
    expect(Object.isFrozen(config.providers.evotel)).to.equal(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).to.throw(TypeError);
  });

  it('reads SECRETS_DIR files, and an environment variable wins over a file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rpa-secrets-'));
    try {
      writeFileSync(join(dir, 'batch-size'), '7\n');
      writeFileSync(join(dir, 'queue-prefix'), 'from-file');
      const config = loadConfig({ env: { SECRETS_DIR: dir, QUEUE_PREFIX: 'from-env' } });
      expect(config).to.include({ batchSize: 7, queuePrefix: 'from-env', secretsDir: dir });
      writeFileSync(join(dir, 'batch-sise'), '7');
      expect(refusal({ SECRETS_DIR: dir })).to.include({ code: 'CONFIG_INVALID', field: 'batch-sise' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops at a misspelt variable of ours, and at a bad value naming the variable but not the value', () => {
    expect(refusal({ BATCH_SISE: '5' })).to.include({ code: 'CONFIG_INVALID', field: 'BATCH_SISE' });
    expect(refusal({ OCTOTEL_PASWORD: 'x' })).to.include({ field: 'OCTOTEL_PASWORD' });
    const bad = refusal({ OCTOTEL_URL: 'https://octotel.example', OCTOTEL_USERNAME: 'u', OCTOTEL_PASSWORD: 'p', OCTOTEL_TOTP_SECRET: 'not base32 at all!', CALLBACK_SECRET: 'c'.repeat(20) });
    expect(bad).to.include({ field: 'OCTOTEL_TOTP_SECRET' });
    expect(bad.message).to.not.include('not base32');
    expect(refusal({ RPA_ROLES: 'api,wrker' }).message).to.include('unknown role "wrker"');
    expect(refusal({ BATCH_SIZE: '0' }).field).to.equal('BATCH_SIZE');
  });

  it('reads each provider\'s windows in its time zone, and refuses bad ones naming the setting', () => {
    const config = loadConfig({ env: { OPENSERVE_MAINTENANCE_WINDOWS: '0 2 * * sun for 2h', OPENSERVE_BUSINESS_HOURS: 'mon-fri 07:00-19:00', OPENSERVE_TIME_ZONE: 'Europe/London', EVOTEL_DRIFT_THRESHOLD: '5' } });
    expect(config.providers.openserve!.windows.timeZone).to.equal('Europe/London');
    expect(config.providers.openserve!.windows.maintenance).to.deep.equal([{ kind: 'recurring', cron: '0 2 * * sun', durationMs: 7_200_000 }]);
    expect(config.providers.openserve!.windows.businessHours?.text).to.equal('mon-fri 07:00-19:00');
    expect(config.providers.octotel!.windows).to.deep.equal({ timeZone: 'Africa/Johannesburg', businessHours: undefined, maintenance: [] });
    expect(config.providers.evotel!.driftThreshold).to.equal(5);
    expect(config.providers.octotel!.driftThreshold).to.equal(3);
    expect(refusal({ OPENSERVE_MAINTENANCE_WINDOWS: 'sundays' })).to.include({ code: 'CONFIG_INVALID', field: 'OPENSERVE_MAINTENANCE_WINDOWS' });
    expect(refusal({ OPENSERVE_BUSINESS_HOURS: 'weekdays' })).to.include({ field: 'OPENSERVE_BUSINESS_HOURS' });
    expect(refusal({ OPENSERVE_TIME_ZONE: 'Mars/Olympus' })).to.include({ field: 'OPENSERVE_TIME_ZONE' });
  });

  it('reads the security settings: TRUST_PROXY, RATE_LIMIT_* per role, CALLBACK_ALLOW_PORTS, SCHEDULE_MIN_INTERVAL_MS', () => {
    const defaults = loadConfig({ env: {} });
    expect(defaults.trustProxy).to.equal(false);
    expect(defaults.callbackAllowPorts).to.deep.equal([80, 443]);
    expect(defaults.scheduleMinIntervalMs).to.equal(300_000);
    expect(defaults.rateLimits).to.deep.include({ windowMs: 60_000, anonymous: 60, failedLogins: 10, failedLoginWindowMs: 900_000 });
    expect(defaults.rateLimits.requests).to.deep.equal({ submitter: 600, viewer: 600, operator: 1200, admin: 1200 });
    const set = loadConfig({ env: { TRUST_PROXY: '1', RATE_LIMIT_REQUESTS: 'submitter:100', RATE_LIMIT_JOBS: 'admin=5', CALLBACK_ALLOW_PORTS: '443,8443' } });
    expect(set.trustProxy).to.equal(1);
    expect(set.rateLimits.requests).to.deep.equal({ submitter: 100, viewer: 600, operator: 1200, admin: 1200 });
    expect(set.rateLimits.jobs.admin).to.equal(5);
    expect(set.callbackAllowPorts).to.deep.equal([443, 8443]);
    expect(loadConfig({ env: { TRUST_PROXY: 'loopback, 10.128.0.0/14' } }).trustProxy).to.deep.equal(['loopback', '10.128.0.0/14']);
    // Trusting any X-Forwarded-For would let every client choose the address it is counted under.
    expect(refusal({ TRUST_PROXY: 'true' })).to.include({ field: 'TRUST_PROXY' });
    expect(refusal({ TRUST_PROXY: '10.0.0.0/99' }).field).to.equal('TRUST_PROXY');
    expect(refusal({ RATE_LIMIT_REQUESTS: 'root:5' }).message).to.include('"root:5"');
    expect(refusal({ CALLBACK_ALLOW_PORTS: '443,70000' }).field).to.equal('CALLBACK_ALLOW_PORTS');
    expect(refusal({ RATE_LIMIT_WINDOWS_MS: '1000' }).field).to.equal('RATE_LIMIT_WINDOWS_MS');
  });

  it('needs the account of a provider whose URL is set', () => {
    expect(refusal({ EVOTEL_URL: 'https://evotel.example', CALLBACK_SECRET: 'c'.repeat(20) })).to.include({ field: 'EVOTEL_USERNAME' });
    const config = loadConfig({ env: { EVOTEL_URL: 'https://evotel.example/', EVOTEL_USERNAME: 'me', EVOTEL_PASSWORD: 'pw', CALLBACK_SECRET: 'c'.repeat(20) } });
    expect(config.providers.evotel).to.include({ practice: false, url: 'https://evotel.example', login: 'me', password: 'pw' });
  });

  it('fails closed: no published callback secret once a real portal URL is set', () => {
    const refused = refusal({ EVOTEL_URL: 'https://evotel.example', EVOTEL_USERNAME: 'me', EVOTEL_PASSWORD: 'pw' });
    expect(refused).to.include({ code: 'CONFIG_INVALID', field: 'CALLBACK_SECRET' });
    expect(refusal({ CALLBACK_SECRET: 'short' })).to.include({ field: 'CALLBACK_SECRET' });
    expect(loadConfig({ env: {} }).callbackSecret).to.have.length.greaterThan(15);
  });

  it('hands a child process its settings and runtime as one value, and nothing else of ours', async () => {
    const config = loadConfig({ env: { BATCH_SIZE: '9', OPENSERVE_PASSWORD: 'not-for-chromium', LOG_LEVEL: 'warn' } });
    const runtime = freezeRuntime({ databaseUrl: 'postgres://u:p@127.0.0.1:5432/rpa', valkeyUrl: 'redis://127.0.0.1:6379', portalUrls: { openserve: 'http://127.0.0.1:4000' } });
    const env = childEnvironment(config, runtime);
    const system = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS'];
    expect(Object.keys(env).filter((k) => !system.includes(k))).to.deep.equal([PROCESS_CONTEXT_VAR]);
    expect(JSON.stringify(Object.entries(env).filter(([k]) => k !== PROCESS_CONTEXT_VAR))).to.not.include('not-for-chromium');
    const child = await inheritedContext(env);
    expect(child.config.batchSize).to.equal(9);
    expect(child.config.providers.openserve!.password).to.equal('not-for-chromium');
    expect(child.runtime).to.deep.equal(runtime);
    expect(configSources(child.config)).to.deep.equal(configSources(config));
    const refused = await inheritedContext({ [PROCESS_CONTEXT_VAR]: '{"settings":{},"fromFiles":[],"runtime":{"portalUrls":{},"valkeyUrl":"http://x"}}' }).catch((e: Error) => e);
    expect(String(refused)).to.match(/RPA_PROCESS_CONTEXT/);
  });

  it('is documented: the README settings table is the one the schema generates', () => {
    const readme = readFileSync(README, 'utf8');
    const start = readme.indexOf('\n', readme.indexOf('<!-- settings:start')) + 1;
    const end = readme.indexOf('<!-- settings:end -->');
    expect(readme.slice(start, end).trimEnd(), 'run `npx rpa settings --markdown` and paste it into the README').to.equal(settingsMarkdown());
  });
});
