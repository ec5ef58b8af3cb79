import { expect } from 'chai';
import { request } from 'node:http';
import { Writable } from 'node:stream';
import type { EmbeddedValkeyHandle } from '../../src/infra/embedded-valkey.js';
import { createLogger } from '../../src/logger.js';
import { BOOTSTRAP_KEY, DEFAULT_RATE_LIMITS, startApiHarness, type ApiHarness } from '../support/api-harness.js';
import { privateValkey, uniquePrefix } from '../support/shared-services.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

/** One request from a chosen loopback address (127.0.0.0/8 is all this machine's), for limits counted per address. */
function from(localAddress: string, url: string, path: string, options: { method?: string; key?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = request(
      url + path,
      {
        method: options.method ?? 'GET',
        localAddress,
        headers: { ...(options.key ? { authorization: `Bearer ${options.key}` } : {}), ...(payload ? { 'content-type': 'application/json' } : {}), ...options.headers },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => {
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode!, headers: res.headers, body });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const job = (n: number) => ({ provider: 'evotel', action: 'validation', circuit_number: `EVO${String(100_000 + n)}` });

describe('rate limits (per API key by role, per client address, failed logins; counted in Valkey)', () => {
  let api: ApiHarness | undefined;
  let second: ApiHarness | undefined;
  afterEach(async () => {
    await second?.close();
    await api?.close();
    api = second = undefined;
  });

  it('counts requests per API key by its role: RateLimit-* on every answer, 429 with Retry-After once over; another key is not affected', async () => {
    api = await startApiHarness({ rateLimits: { requests: { ...DEFAULT_RATE_LIMITS.requests, submitter: 5 } } });
    const key = await api.keyFor('submitter');
    for (let i = 0; i < 5; i++) {
      const res = await from('127.0.0.1', api.url, '/jobs?limit=1', { key });
      expect(res.status).to.equal(200);
      expect(res.headers['ratelimit-limit']).to.equal('5');
      expect(res.headers['ratelimit-remaining']).to.equal(String(4 - i));
      expect(Number(res.headers['ratelimit-reset'])).to.be.within(1, 60);
    }
    const over = await from('127.0.0.1', api.url, '/jobs?limit=1', { key });
    expect(over.status).to.equal(429);
    expect(over.body.error).to.include({ code: 'RATE_LIMITED', retryable: true });
    expect(over.body.error.message).to.match(/at most 5 per 1 min/);
    expect(Number(over.headers['retry-after'])).to.be.within(1, 60);
    expect(over.headers['ratelimit-remaining']).to.equal('0');
    // A submission over the limit is refused before anything is stored.
    const refused = await from('127.0.0.1', api.url, '/jobs', { method: 'POST', key, body: job(1) });
    expect(refused.status).to.equal(429);
    expect(await api.database.db.selectFrom('jobs').select('id').execute()).to.have.length(0);
    // The viewer's own count, the operator's own limit.
    const viewer = await from('127.0.0.1', api.url, '/jobs?limit=1', { key: await api.keyFor('viewer') });
    expect(viewer.status).to.equal(200);
    expect(viewer.headers['ratelimit-limit']).to.equal(String(DEFAULT_RATE_LIMITS.requests.viewer));
    const admin = await from('127.0.0.1', api.url, '/jobs?limit=1', { key: BOOTSTRAP_KEY });
    expect(admin.headers['ratelimit-limit']).to.equal(String(DEFAULT_RATE_LIMITS.requests.admin));
  });

  it('counts a bulk submission by its jobs; a request with more jobs than a window allows is told to split', async () => {
    api = await startApiHarness({ rateLimits: { jobs: { ...DEFAULT_RATE_LIMITS.jobs, submitter: 10 } } });
    const key = await api.keyFor('submitter');
    const bulk = (from: number, n: number) => ({ provider: 'evotel', action: 'validation', jobs: Array.from({ length: n }, (_, i) => ({ circuit_number: job(from + i).circuit_number })) });
    const six = await api.call('POST', '/jobs/bulk', { key, body: bulk(0, 6) });
    expect(six.status).to.equal(202);
    const five = await from('127.0.0.1', api.url, '/jobs/bulk', { method: 'POST', key, body: bulk(10, 5) });
    expect(five.status).to.equal(429);
    expect(five.body.error.message).to.match(/too many jobs submitted with API key "test-submitter": at most 10 per 1 min/);
    expect(five.headers['ratelimit-limit']).to.equal('10');
    expect(five.headers['ratelimit-remaining']).to.equal('0');
    expect(Number(five.headers['retry-after'])).to.be.within(1, 60);
    const eleven = await api.call('POST', '/jobs/bulk', { key, body: bulk(20, 11) });
    expect(eleven.status).to.equal(429);
    expect(eleven.body.error).to.include({ code: 'RATE_LIMITED', field: 'jobs' });
    expect(eleven.body.error.message).to.match(/holds 11 jobs, more than the 10 .* split it/);
    expect(await api.database.db.selectFrom('jobs').select('id').execute()).to.have.length(6);
    // Reading is still allowed: jobs and requests are counted apart.
    expect((await api.call('GET', '/jobs?limit=1', { key })).status).to.equal(200);
  });

  it('counts requests without a valid key per client address, and wrong keys as failed logins that lock the address out (good keys too) until the window ends', async () => {
    api = await startApiHarness({ rateLimits: { anonymous: 3, failedLogins: 2 } });
    for (let i = 0; i < 3; i++) expect((await from('127.0.0.1', api.url, '/jobs')).status).to.equal(401);
    const over = await from('127.0.0.1', api.url, '/jobs');
    expect(over.status).to.equal(429);
    expect(Number(over.headers['retry-after'])).to.be.within(1, 60);
    // A key's requests are counted per key, not per address.
    expect((await from('127.0.0.1', api.url, '/jobs', { key: BOOTSTRAP_KEY })).status).to.equal(200);
    // The probes are exempt and say nothing about limits.
    for (let i = 0; i < 10; i++) {
      const probe = await from('127.0.0.1', api.url, '/health/live');
      expect(probe.status).to.equal(200);
      expect(probe.headers['ratelimit-limit']).to.equal(undefined);
    }

    // Wrong keys, from another address: two are 401, then even the bootstrap key is 429 there.
    expect((await from('127.0.0.2', api.url, '/jobs', { key: 'rpa_guess-1' })).status).to.equal(401);
    expect((await from('127.0.0.2', api.url, '/jobs', { key: 'rpa_guess-2' })).status).to.equal(401);
    const locked = await from('127.0.0.2', api.url, '/jobs', { key: BOOTSTRAP_KEY });
    expect(locked.status).to.equal(429);
    expect(locked.body.error.message).to.match(/too many wrong API keys from this address/);
    expect(Number(locked.headers['retry-after'])).to.be.within(1, DEFAULT_RATE_LIMITS.failedLoginWindowMs / 1_000);
    // Wrong keys on /health count too (a viewer key there shows the details).
    expect((await from('127.0.0.2', api.url, '/health', { key: 'rpa_guess-3' })).status).to.equal(429);
    // Another address is not locked out.
    expect((await from('127.0.0.3', api.url, '/jobs', { key: BOOTSTRAP_KEY })).status).to.equal(200);
  });

  it('counts the address a trusted proxy names (TRUST_PROXY), and ignores X-Forwarded-For from anyone else', async () => {
    api = await startApiHarness({ rateLimits: { anonymous: 2 }, trustProxy: ['127.0.0.1'] });
    const viaProxy = (client: string) => from('127.0.0.1', api!.url, '/jobs', { headers: { 'x-forwarded-for': client } });
    expect((await viaProxy('203.0.113.7')).status).to.equal(401);
    expect((await viaProxy('203.0.113.7')).status).to.equal(401);
    expect((await viaProxy('203.0.113.7')).status).to.equal(429);
    // Another client behind the same proxy has its own count.
    expect((await viaProxy('203.0.113.8')).status).to.equal(401);
    // 127.0.0.4 is no trusted proxy: its X-Forwarded-For is not believed, it is counted as itself.
    const spoof = (client: string) => from('127.0.0.4', api!.url, '/jobs', { headers: { 'x-forwarded-for': client } });
    expect((await spoof('198.51.100.1')).status).to.equal(401);
    expect((await spoof('198.51.100.2')).status).to.equal(401);
    expect((await spoof('198.51.100.3')).status).to.equal(429);
  });

  it('is shared by every API replica: two processes over one Valkey and prefix count as one', async () => {
    const prefix = uniquePrefix('replicas');
    const limits = { requests: { ...DEFAULT_RATE_LIMITS.requests, admin: 6 } };
    api = await startApiHarness({ prefix, rateLimits: limits });
    second = await startApiHarness({ prefix, rateLimits: limits, database: api.database });
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await from('127.0.0.1', (i % 2 === 0 ? api : second).url, '/jobs?limit=1', { key: BOOTSTRAP_KEY })).status);
    expect(statuses).to.deep.equal([200, 200, 200, 200, 200, 200, 429, 429]);
  });

  describe('while Valkey is down', function () {
    this.timeout(60_000);
    let valkey: EmbeddedValkeyHandle | undefined;
    afterEach(async () => {
      await valkey?.stop();
      valkey = undefined;
    });

    it('fails open: submissions are taken (Postgres is the truth), never a 500, and a log line says the limits are not counted', async () => {
      valkey = await privateValkey();
      const lines: string[] = [];
      const sink = new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(...chunk.toString().split('\n').filter(Boolean));
          done();
        },
      });
      api = await startApiHarness({ valkeyUrl: valkey.url, rateLimits: { anonymous: 1 }, logger: createLogger({ level: 'warn', destination: sink }) });
      const key = await api.keyFor('submitter');
      expect((await api.call('POST', '/jobs', { key, body: job(1) })).status).to.equal(202);
      await valkey.stop();
      const started = Date.now();
      const res = await from('127.0.0.1', api.url, '/jobs', { method: 'POST', key, body: job(2) });
      expect(res.status).to.equal(202);
      expect(Date.now() - started).to.be.below(5_000);
      expect(res.headers['ratelimit-limit'], 'nothing was counted').to.equal(undefined);
      const bulk = await api.call('POST', '/jobs/bulk', { key, body: { provider: 'evotel', action: 'validation', jobs: [{ circuit_number: job(3).circuit_number }] } });
      expect(bulk.status).to.equal(202);
      // Without a key it is still a 401, not a 500 (and not counted).
      for (let i = 0; i < 3; i++) expect((await from('127.0.0.1', api.url, '/jobs')).status).to.equal(401);
      const rows = await api.database.db.selectFrom('jobs').select('id').execute();
      expect(rows).to.have.length(3);
      const warning = lines.map((l) => JSON.parse(l) as { msg: string; level: number }).find((l) => /rate limits not counted/.test(l.msg));
      expect(warning, lines.join('\n')).to.not.equal(undefined);
      expect(warning!.msg).to.contain('fail open');
      expect(warning!.level).to.equal(40);
    });
  });
});
