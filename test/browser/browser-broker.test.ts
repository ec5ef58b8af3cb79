import { expect } from 'chai';
import { BrowserBroker, type EndpointGrant } from '../../src/browser/browser-broker.js';
import { PooledBrowserServiceManager, type BrowserPoolEndpoint, type BrowserServiceBackend } from '../../src/browser/browser-service-manager.js';
import { testLogger } from '../support/shared-services.js';
import { waitFor } from './pool-fixture.js';

/**
 * A backend whose "services" are records: the broker's job is the manager's acquire and release
 * over HTTP, and this one shows what it was asked for. `hold()` keeps the next provision waiting.
 */
class RecordingBackend implements BrowserServiceBackend {
  provisioned: string[] = [];
  terminated: string[] = [];
  private held?: { promise: Promise<void>; resolve: () => void };

  hold(): () => void {
    let resolve!: () => void;
    this.held = { promise: new Promise<void>((r) => (resolve = r)), resolve };
    return resolve;
  }

  async cleanupOrphans(): Promise<string[]> {
    return [];
  }

  async provision(id: string): Promise<BrowserPoolEndpoint> {
    this.provisioned.push(id);
    await this.held?.promise;
    return { id, url: `http://${id}.pool.invalid:8630`, token: `pool-token-of-${id}` };
  }

  async isAlive(): Promise<boolean> {
    return true;
  }

  async terminate(id: string): Promise<void> {
    this.terminated.push(id);
  }

  async close(): Promise<void> {}
}

describe('BrowserBroker: the worker hands browser services to its batch children over loopback HTTP', () => {
  let backend: RecordingBackend;
  let manager: PooledBrowserServiceManager;
  let broker: BrowserBroker | undefined;

  beforeEach(async () => {
    backend = new RecordingBackend();
    manager = new PooledBrowserServiceManager({
      policy: { maxPools: 2, warmPools: 0, jobsPerPool: 10, idleTimeoutMs: 60_000 },
      backend,
      logger: testLogger,
      readyTimeoutMs: 5_000,
      reconcileIntervalMs: 0,
      idPrefix: 'svc',
    });
    await manager.start();
  });

  afterEach(async () => {
    await broker?.close();
    broker = undefined;
    await manager.close();
  });

  async function start(options: { grantTtlMs?: number; ready?: Promise<unknown> } = {}): Promise<BrowserBroker> {
    broker = await new BrowserBroker({ manager, logger: testLogger, ...options }).start();
    return broker;
  }

  function post(path: string, body: unknown = {}, token: string | null = broker!.token, signal?: AbortSignal): Promise<Response> {
    return fetch(`${broker!.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
      body: JSON.stringify(body),
      signal,
    });
  }

  const leases = () => manager.snapshot().reduce((sum, p) => sum + p.leases, 0);

  it('listens on 127.0.0.1 only, with a random token of its own', async () => {
    const b = await start();
    expect(b.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(b.token).to.have.length.greaterThanOrEqual(32);
    const other = await new BrowserBroker({ manager, logger: testLogger }).start();
    try {
      expect(other.token).not.to.equal(b.token);
    } finally {
      await other.close();
    }
  });

  it('refuses a missing or wrong token on every route, and hands nothing out', async () => {
    await start();
    for (const path of ['/acquire', '/renew', '/release']) {
      for (const token of [null, 'wrong-token-0123456789', `${broker!.token}x`]) {
        const res = await post(path, { grantId: 'x' }, token);
        expect(res.status, `${path} with ${token}`).to.equal(401);
        expect(res.headers.get('www-authenticate')).to.equal('Bearer');
        expect(((await res.json()) as any).error.code).to.equal('UNAUTHENTICATED');
      }
    }
    expect(backend.provisioned).to.deep.equal([]);
    expect(leases()).to.equal(0);
    expect(broker!.outstanding()).to.equal(0);
  });

  it('hands out a ready service with its URL and token, counts it on the manager, and takes it back once', async () => {
    await start();
    const res = await post('/acquire');
    expect(res.status).to.equal(200);
    const grant = (await res.json()) as EndpointGrant;
    expect(grant.id).to.match(/^svc-/);
    expect(grant).to.include({ url: `http://${grant.id}.pool.invalid:8630`, token: `pool-token-of-${grant.id}`, ttlMs: 120_000 });
    expect(grant.grantId).to.be.a('string').and.not.equal(grant.id);
    expect(backend.provisioned).to.deep.equal([grant.id]);
    expect(leases()).to.equal(1);
    expect(broker!.outstanding()).to.equal(1);

    // A second child shares the ready service (the least-leased one).
    const second = (await (await post('/acquire')).json()) as EndpointGrant;
    expect(second.id).to.equal(grant.id);
    expect(second.grantId).not.to.equal(grant.grantId);
    expect(leases()).to.equal(2);

    expect((await post('/release', { grantId: grant.grantId })).status).to.equal(204);
    expect(leases()).to.equal(1);
    // Releasing the same grant again (a retry, a double release) gives back nothing more.
    expect((await post('/release', { grantId: grant.grantId })).status).to.equal(204);
    expect(leases()).to.equal(1);
    expect((await post('/release', { grantId: 'never-handed-out' })).status).to.equal(204);
    expect(leases()).to.equal(1);

    expect((await post('/release', { grantId: second.grantId })).status).to.equal(204);
    expect(leases()).to.equal(0);
    expect(broker!.outstanding()).to.equal(0);
    expect(backend.terminated).to.deep.equal([]);
    expect(manager.endpoints().map((e) => e.id)).to.deep.equal([grant.id]);
  });

  it('stops a service released with retire', async () => {
    await start();
    const grant = (await (await post('/acquire')).json()) as EndpointGrant;
    expect((await post('/release', { grantId: grant.grantId, retire: true })).status).to.equal(204);
    expect(backend.terminated).to.deep.equal([grant.id]);
    expect(manager.endpoints()).to.deep.equal([]);
  });

  it('answers 400 to a bad body and 404 to an unknown route or a renewal of a grant it does not hold', async () => {
    await start();
    expect((await post('/release', { grantId: 42 })).status).to.equal(400);
    expect((await post('/release', { grantId: 'g', retire: 'yes' })).status).to.equal(400);
    const notJson = await fetch(`${broker!.url}/release`, { method: 'POST', headers: { authorization: `Bearer ${broker!.token}`, 'content-type': 'application/json' }, body: '{' });
    expect(notJson.status).to.equal(400);
    expect((await post('/leases')).status).to.equal(404);
    const renew = await post('/renew', { grantId: 'gone' });
    expect(renew.status).to.equal(404);
    expect(((await renew.json()) as any).error.code).to.equal('NOT_FOUND');
  });

  it('gives back a grant its holder stopped renewing (a batch process that died), and keeps one that is renewed', async () => {
    await start({ grantTtlMs: 600 });
    const kept = (await (await post('/acquire')).json()) as EndpointGrant;
    const abandoned = (await (await post('/acquire')).json()) as EndpointGrant;
    expect(kept.ttlMs).to.equal(600);
    expect(leases()).to.equal(2);
    const renewing = setInterval(() => void post('/renew', { grantId: kept.grantId }), 150);
    try {
      await waitFor('the abandoned grant to expire', () => leases() === 1, 5_000);
      expect(broker!.outstanding()).to.equal(1);
      const renewed = await post('/renew', { grantId: kept.grantId });
      expect(renewed.status).to.equal(200);
      expect((await post('/renew', { grantId: abandoned.grantId })).status).to.equal(404);
    } finally {
      clearInterval(renewing);
    }
    await post('/release', { grantId: kept.grantId });
    expect(leases()).to.equal(0);
  });

  it('gives back a service that became ready after the child stopped waiting for it', async () => {
    await start();
    const ready = backend.hold();
    const abort = new AbortController();
    const waiting = post('/acquire', {}, broker!.token, abort.signal).catch((err: Error) => err);
    await waitFor('the manager to start a service', () => backend.provisioned.length === 1);
    abort.abort();
    expect(await waiting).to.be.instanceOf(Error);
    // Let the server side see the closed socket (same process: it needs an I/O turn). Had the
    // service come at that very moment, the grant would be handed out and expire unrenewed.
    await new Promise((r) => setTimeout(r, 200));
    ready();
    await waitFor('the service to be ready', () => manager.endpoints().length === 1);
    await waitFor('the abandoned acquire to be given back', () => leases() === 0 && manager.snapshot()[0]!.state === 'ready');
    await new Promise((r) => setTimeout(r, 100));
    expect(leases()).to.equal(0);
    expect(broker!.outstanding()).to.equal(0);
  });

  it('holds acquire until the manager may hand out services', async () => {
    let open!: () => void;
    await start({ ready: new Promise<void>((r) => (open = r)) });
    let answered = false;
    const acquiring = post('/acquire').then((res) => {
      answered = true;
      return res;
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(answered).to.equal(false);
    expect(backend.provisioned).to.deep.equal([]);
    open();
    expect((await acquiring).status).to.equal(200);
    expect(backend.provisioned).to.have.length(1);
  });

  it("passes the manager's refusal on with its code (a closed manager: 503 BROWSER_GONE)", async () => {
    await start();
    await manager.close();
    const res = await post('/acquire');
    expect(res.status).to.equal(503);
    expect(((await res.json()) as any).error.code).to.equal('BROWSER_GONE');
    expect(broker!.outstanding()).to.equal(0);
  });
});
