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

  it('names one Valkey: a server, a Sentinel group or a Cluster, or none (the embedded one); conflicting ones refused by name', () => {
    expect(loadConfig({ env: {} }).valkey).to.equal(undefined);
    expect(loadConfig({ env: { VALKEY_URL: 'redis://:pw@10.0.0.5:6379/0' } }).valkey).to.deep.equal({ mode: 'server', url: 'redis://:pw@10.0.0.5:6379/0' });
    const sentinel = loadConfig({ env: { VALKEY_SENTINELS: 'sentinel-0.svc:26379, sentinel-1.svc:26379,[::1]:26380', VALKEY_PASSWORD: 'data-pw', VALKEY_SENTINEL_PASSWORD: 'sentinel-pw' } });
    expect(sentinel.valkey).to.deep.equal({
      mode: 'sentinel',
      sentinels: [{ host: 'sentinel-0.svc', port: 26379 }, { host: 'sentinel-1.svc', port: 26379 }, { host: '::1', port: 26380 }],
      name: 'mymaster',
      password: 'data-pw',
      sentinelPassword: 'sentinel-pw',
    });
    expect(loadConfig({ env: { VALKEY_SENTINELS: 'a:1', VALKEY_SENTINEL_NAME: 'queues' } }).valkey).to.deep.include({ name: 'queues' });
    expect(loadConfig({ env: { VALKEY_CLUSTER_NODES: 'n1:7000,n2:7001' } }).valkey).to.deep.equal({ mode: 'cluster', nodes: [{ host: 'n1', port: 7000 }, { host: 'n2', port: 7001 }] });

    const both = refusal({ VALKEY_URL: 'redis://10.0.0.5:6379', VALKEY_SENTINELS: 'a:26379' });
    expect(both).to.include({ code: 'CONFIG_INVALID' });
    expect(both.message).to.include('VALKEY_URL and VALKEY_SENTINELS');
    expect(refusal({ VALKEY_SENTINELS: 'a:26379', VALKEY_CLUSTER_NODES: 'b:7000' }).message).to.include('VALKEY_SENTINELS and VALKEY_CLUSTER_NODES');
    expect(refusal({ VALKEY_SENTINELS: 'a:26379,not a node' })).to.include({ field: 'VALKEY_SENTINELS' });
    expect(refusal({ VALKEY_CLUSTER_NODES: 'n1:99999' })).to.include({ field: 'VALKEY_CLUSTER_NODES' });
    expect(refusal({ VALKEY_CLUSTER_NODES: ' , ' })).to.include({ field: 'VALKEY_CLUSTER_NODES' });
    const stray = refusal({ VALKEY_URL: 'redis://10.0.0.5:6379', VALKEY_PASSWORD: 'Secret-Never-Echoed-1' });
    expect(stray).to.include({ field: 'VALKEY_PASSWORD' });
    expect(stray.message).to.include('VALKEY_URL').and.not.include('Secret-Never-Echoed-1');
    expect(refusal({ VALKEY_PASSWORD: 'x' })).to.include({ field: 'VALKEY_PASSWORD' });
    expect(refusal({ VALKEY_SENTINEL_PASSWORD: 'x', VALKEY_CLUSTER_NODES: 'n1:7000' })).to.include({ field: 'VALKEY_SENTINEL_PASSWORD' });
  });

  it('hands a child process its settings and runtime as one value, and nothing else of ours', async () => {
    const config = loadConfig({ env: { BATCH_SIZE: '9', OPENSERVE_PASSWORD: 'not-for-chromium', LOG_LEVEL: 'warn' } });
    const runtime = freezeRuntime({ databaseUrl: 'postgres://u:p@127.0.0.1:5432/rpa', valkey: { mode: 'server', url: 'redis://127.0.0.1:6379' }, portalUrls: { openserve: 'http://127.0.0.1:4000' } });
    const env = childEnvironment(config, runtime);
    const system = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS'];
    expect(Object.keys(env).filter((k) => !system.includes(k))).to.deep.equal([PROCESS_CONTEXT_VAR]);
    expect(JSON.stringify(Object.entries(env).filter(([k]) => k !== PROCESS_CONTEXT_VAR))).to.not.include('not-for-chromium');
    const child = await inheritedContext(env);
    expect(child.config.batchSize).to.equal(9);
    expect(child.config.providers.openserve!.password).to.equal('not-for-chromium');
    expect(child.runtime).to.deep.equal(runtime);
    expect(configSources(child.config)).to.deep.equal(configSources(config));
    // A Sentinel (or Cluster) address reaches the child the same way, passwords and all.
    const sentinel = freezeRuntime({ valkey: { mode: 'sentinel', sentinels: [{ host: '10.0.0.7', port: 26379 }], name: 'rpa', password: 'p', sentinelPassword: 's' }, portalUrls: {} });
    expect((await inheritedContext(childEnvironment(config, sentinel))).runtime.valkey).to.deep.equal(sentinel.valkey);
    const refused = await inheritedContext({ [PROCESS_CONTEXT_VAR]: '{"settings":{},"fromFiles":[],"runtime":{"portalUrls":{},"valkey":{"mode":"server","url":"http://x"}}}' }).catch((e: Error) => e);
    expect(String(refused)).to.match(/RPA_PROCESS_CONTEXT/);
  });

  it('is documented: the README settings table is the one the schema generates', () => {
    const readme = readFileSync(README, 'utf8');
    const start = readme.indexOf('\n', readme.indexOf('<!-- settings:start')) + 1;
    const end = readme.indexOf('<!-- settings:end -->');
    expect(readme.slice(start, end).trimEnd(), 'run `npx rpa settings --markdown` and paste it into the README').to.equal(settingsMarkdown());
  });
});
