import { expect } from 'chai';
import { createServer } from 'node:net';
import { providerDescriptors } from '../../src/providers/descriptors.js';
import { practicePortalNames, startPracticePortal, startPracticePortals } from '../../src/portals/practice-portals.js';
import { freePort } from '../../src/infra/free-port.js';

const accounts = Object.fromEntries(providerDescriptors().map((d) => [d.name, d.practiceAccount]));

describe('portals/practice-portals', function () {
  it('knows exactly the four providers', function () {
    expect([...practicePortalNames()].sort()).to.deep.equal(providerDescriptors().map((d) => d.name).sort());
  });

  it('starts all four on their own 127.0.0.1 origins, answers, and closes them all', async function () {
    const fixedPort = await freePort();
    const portals = await startPracticePortals({
      portals: Object.fromEntries(providerDescriptors().map((d) => [d.name, { port: d.name === 'evotel' ? fixedPort : 0, account: accounts[d.name]! }])),
    });
    try {
      expect(Object.keys(portals.urls)).to.deep.equal(providerDescriptors().map((d) => d.name));
      expect(portals.urls.evotel).to.equal(`http://127.0.0.1:${fixedPort}`);
      const origins = new Set(Object.values(portals.urls));
      expect(origins.size).to.equal(4);
      for (const portal of portals.portals) {
        expect(portal.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
        expect(portals.urls[portal.name]).to.equal(portal.url);
        const stats = (await fetch(`${portal.url}/__sandbox/stats`).then((r) => r.json())) as Record<string, unknown>;
        expect(Object.keys(stats)).to.deep.equal([
          'logins_ok',
          'logins_failed',
          'totp_ok',
          'totp_rejected_reused',
          'totp_rejected_invalid',
          'active_sessions',
          'requests',
          'errors_injected',
          'cancellations',
          'duplicate_cancel_attempts',
        ]);
      }
    } finally {
      await portals.close();
    }
    for (const url of Object.values(portals.urls)) {
      await fetch(`${url}/__sandbox/stats`).then(
        () => expect.fail(`${url} still answers after close()`),
        (error: Error) => expect(error).to.be.instanceOf(Error),
      );
    }
    await portals.close(); // safe to call twice
  });

  it('keeps state per portal: configuring one leaves another alone', async function () {
    const a = await startPracticePortal('evotel', { account: accounts.evotel! });
    const b = await startPracticePortal('evotel', { account: accounts.evotel! });
    try {
      await fetch(`${a.url}/__sandbox/config`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ max_sessions: 9 }) });
      expect(await fetch(`${b.url}/__sandbox/config`).then((r) => r.json())).to.include({ max_sessions: 5 });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('refuses an unknown portal and an Octotel account without a TOTP secret', async function () {
    await startPracticePortal('acme', { account: { login: 'x', password: 'y' } }).then(
      () => expect.fail('started an unknown portal'),
      (error: Error) => expect(error.message).to.match(/unknown practice portal "acme"/),
    );
    await startPracticePortal('octotel', { account: { login: 'x', password: 'y' } }).then(
      () => expect.fail('started Octotel without a TOTP secret'),
      (error: Error) => expect(error.message).to.match(/TOTP secret/),
    );
  });

  it('closes the portals already started when a later one cannot listen', async function () {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const busyPort = (blocker.address() as { port: number }).port;
    const firstPort = await freePort();
    try {
      await startPracticePortals({
        portals: { evotel: { port: firstPort, account: accounts.evotel! }, metrofiber: { port: busyPort, account: accounts.metrofiber! } },
      }).then(
        () => expect.fail('started on a busy port'),
        (error: NodeJS.ErrnoException) => expect(error.code).to.equal('EADDRINUSE'),
      );
      // The first portal was closed again: its port is free.
      const probe = createServer();
      await new Promise<void>((r, j) => {
        probe.once('error', j);
        probe.listen(firstPort, '127.0.0.1', () => r());
      });
      await new Promise((r) => probe.close(r));
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });
});
