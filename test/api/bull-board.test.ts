import { expect } from 'chai';
import { mkdirSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { appRoutes } from '@bull-board/api/dist/routes.js';
import { Worker, type ConnectionOptions } from 'bullmq';
import { chromium, type Browser } from 'playwright-core';
import { BULL_BOARD_CSRF_COOKIE, BULL_BOARD_CSRF_HEADER, BULL_BOARD_LOGIN_COOKIE, BULL_BOARD_SESSION_COOKIE } from '../../src/api/bull-board-router.js';
import { CHROMIUM_FLAGS } from '../../src/browser/pool/chromium-flags.js';
import { createValkey } from '../../src/queues/valkey.js';
import { batchRunQueue } from '../../src/queues/queue-names.js';
import { sharedValkey } from '../support/shared-services.js';
import { OPERATOR_BOOTSTRAP_KEY, startOperatorHarness, type OperatorHarness } from '../support/operator-harness.js';

const SCREENSHOT_DIR = join(process.cwd(), 'test-results');
const QUEUE = 'batch-run-openserve';

/** Puts one failed batch on the openserve batch-run queue: its processor threw, as a real one does when a portal is down. */
async function failedBatch(h: OperatorHarness): Promise<string> {
  const queue = h.queues.batchRuns('openserve');
  const job = await queue.add('batch', { batchId: '4242', provider: 'openserve' }, { jobId: 'batch-4242-run' });
  const ref = batchRunQueue(h.config.queuePrefix, 'openserve');
  const connection = createValkey((await sharedValkey()).url, 'worker');
  const worker = new Worker(
    ref.name,
    async () => {
      throw new Error('PORTAL_UNAVAILABLE: Openserve answered 503 three times');
    },
    { connection: connection as unknown as ConnectionOptions, prefix: ref.prefix },
  );
  try {
    await new Promise<void>((resolve) => worker.on('failed', () => resolve()));
  } finally {
    await worker.close();
    connection.disconnect();
  }
  expect(await job.getState()).to.equal('failed');
  return job.id!;
}

/** The Set-Cookie headers of an answer, by cookie name: value and attributes. */
function setCookies(res: Response): Map<string, { value: string; attributes: string[] }> {
  const out = new Map<string, { value: string; attributes: string[] }>();
  for (const line of res.headers.getSetCookie()) {
    const [pair, ...attributes] = line.split(';').map((p) => p.trim());
    const eq = pair!.indexOf('=');
    out.set(pair!.slice(0, eq), { value: pair!.slice(eq + 1), attributes: attributes.map((a) => a.toLowerCase()) });
  }
  return out;
}

interface Login {
  status: number;
  res: Response;
  session?: string;
  csrf?: string;
  /** The Cookie header a browser would send back to the board. */
  cookie?: string;
}

/** Logs in through the form as a browser does: GET the form (its token and cookie), POST it back. */
async function login(h: OperatorHarness, key: string, headers: Record<string, string> = {}): Promise<Login> {
  const form = await fetch(`${h.url}/admin/queues/login`, { headers });
  const html = await form.text();
  const token = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
  const loginCookie = setCookies(form).get(BULL_BOARD_LOGIN_COOKIE)!.value;
  const res = await fetch(`${h.url}/admin/queues/login`, {
    method: 'POST',
    body: new URLSearchParams({ key, csrf: token }),
    headers: { cookie: `${BULL_BOARD_LOGIN_COOKIE}=${loginCookie}`, ...headers },
    redirect: 'manual',
  });
  const cookies = setCookies(res);
  const session = cookies.get(BULL_BOARD_SESSION_COOKIE)?.value;
  const csrf = cookies.get(BULL_BOARD_CSRF_COOKIE)?.value;
  return { status: res.status, res, session, csrf, cookie: session ? `${BULL_BOARD_SESSION_COOKIE}=${session}; ${BULL_BOARD_CSRF_COOKIE}=${csrf}` : undefined };
}

/** Every mutating route of Bull Board's own route table (the board this version serves), with its parameters filled in. */
function mutatingRoutes(jobId: string): Array<{ method: string; path: string; route: string }> {
  const fill = (route: string) =>
    route.replace(':queueName', QUEUE).replace(':jobId', jobId).replace(':queueStatus', 'failed').replace(':schedulerId', 'no-such-scheduler');
  return appRoutes.api.flatMap((r) =>
    (Array.isArray(r.route) ? r.route : [r.route]).flatMap((route: string) =>
      (Array.isArray(r.method) ? r.method : [r.method]).filter((m) => m !== 'get').map((m) => ({ method: m.toUpperCase(), path: `/admin/queues${fill(route)}`, route })),
    ),
  );
}

describe('Bull Board at /admin/queues', () => {
  let h: OperatorHarness;
  beforeEach(async () => {
    h = await startOperatorHarness({ RATE_LIMIT_FAILED_LOGINS: '4' });
  });
  afterEach(async () => {
    await h.close();
  });

  const get = (path: string, headers: Record<string, string> = {}) => fetch(h.url + path, { headers, redirect: 'manual' });

  it('refuses no key (401) and a submitter key (403) without showing job data, also through the login form', async () => {
    await failedBatch(h);
    const submitterKey = await h.keyFor('submitter');
    for (const path of ['/admin/queues', '/admin/queues/api/queues', '/admin/queues/api/queues/batch-run-openserve/batch-4242-run']) {
      const none = await get(path, { accept: 'application/json' });
      expect(none.status, path).to.equal(401);
      const submitter = await get(path, { authorization: `Bearer ${submitterKey}`, accept: 'application/json' });
      expect(submitter.status, path).to.equal(403);
      // The cookie never carries a key: a key put where the session id goes is no session.
      const cookie = await get(path, { cookie: `${BULL_BOARD_SESSION_COOKIE}=${await h.keyFor('operator')}` });
      expect(cookie.status, path).to.equal(401);
      const text = await cookie.text();
      expect(text).to.not.include('4242');
      expect(text).to.not.include('PORTAL_UNAVAILABLE');
    }
    const html = await get('/admin/queues', { accept: 'text/html' });
    expect(html.status).to.equal(401);
    expect(await html.text()).to.include('<form method="post" action="/admin/queues/login">');

    const refused = await login(h, submitterKey);
    expect(refused.status).to.equal(403);
    expect(refused.session).to.equal(undefined);
    const wrong = await login(h, 'not-a-key');
    expect(wrong.status).to.equal(401);
    expect(wrong.session).to.equal(undefined);
  });

  it('gives a login an opaque session id kept in Valkey with an expiry: HttpOnly, SameSite=Strict, no key in any cookie', async () => {
    const key = await h.keyFor('operator');
    const ok = await login(h, key);
    expect(ok.status).to.equal(303);
    const cookies = setCookies(ok.res);
    const session = cookies.get(BULL_BOARD_SESSION_COOKIE)!;
    expect(session.value).to.match(/^[A-Za-z0-9_-]{43}$/);
    expect(session.attributes).to.include.members(['httponly', 'samesite=strict', 'path=/admin/queues']);
    expect(session.attributes).to.not.include('secure');
    // The CSRF cookie is for the page's script to read (Bull Board's axios), so not HttpOnly.
    const csrf = cookies.get(BULL_BOARD_CSRF_COOKIE)!;
    expect(csrf.attributes).to.include.members(['samesite=strict', 'path=/admin/queues']);
    expect(csrf.attributes).to.not.include('httponly');
    for (const line of ok.res.headers.getSetCookie()) expect(line).to.not.include(key);

    const stored = `{${h.config.queuePrefix}-board}:session:${createHash('sha256').update(session.value).digest('hex')}`;
    const text = await h.valkey.get(stored);
    expect(text, 'the session is stored under the hash of its id').to.be.a('string');
    expect(text).to.not.include(key);
    expect(JSON.parse(text!)).to.include({ keyName: 'test-operator', role: 'operator' });
    const ttl = await h.valkey.pttl(stored);
    expect(ttl).to.be.within(1, h.config.boardSessionTtlMs);
    expect(await h.valkey.exists(`{${h.config.queuePrefix}-board}:session:${session.value}`)).to.equal(0);

    expect((await get('/admin/queues/api/queues', { cookie: ok.cookie! })).status).to.equal(200);
    // Logging out ends the session in Valkey (with the CSRF token).
    const out = await fetch(`${h.url}/admin/queues/logout`, { method: 'POST', headers: { cookie: ok.cookie!, [BULL_BOARD_CSRF_HEADER]: ok.csrf! }, redirect: 'manual' });
    expect(out.status).to.equal(303);
    expect(await h.valkey.exists(stored)).to.equal(0);
    expect((await get('/admin/queues/api/queues', { cookie: ok.cookie! })).status).to.equal(401);
  });

  it('ends a session as soon as its key is revoked', async () => {
    const created = await fetch(`${h.url}/api-keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${OPERATOR_BOOTSTRAP_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'board-viewer', role: 'viewer' }),
    });
    const { key } = (await created.json()) as { key: string };
    const session = await login(h, key);
    expect((await get('/admin/queues/api/queues', { cookie: session.cookie! })).status).to.equal(200);
    const revoked = await fetch(`${h.url}/api-keys/board-viewer`, { method: 'DELETE', headers: { authorization: `Bearer ${OPERATOR_BOOTSTRAP_KEY}` } });
    expect(revoked.status).to.equal(200);
    const after = await get('/admin/queues/api/queues', { cookie: session.cookie!, accept: 'application/json' });
    expect(after.status).to.equal(401);
    expect(((await after.json()) as { error: { message: string } }).error.message).to.contain('revoked');
  });

  it('marks the cookies Secure when the request came over TLS through a trusted proxy (TRUST_PROXY)', async () => {
    await h.close();
    h = await startOperatorHarness({ TRUST_PROXY: '1' });
    const tls = await login(h, await h.keyFor('viewer'), { 'x-forwarded-proto': 'https' });
    expect(tls.status).to.equal(303);
    expect(setCookies(tls.res).get(BULL_BOARD_SESSION_COOKIE)!.attributes).to.include('secure');
    expect(setCookies(tls.res).get(BULL_BOARD_CSRF_COOKIE)!.attributes).to.include('secure');
    const plain = await login(h, await h.keyFor('viewer'));
    expect(setCookies(plain.res).get(BULL_BOARD_SESSION_COOKIE)!.attributes).to.not.include('secure');
  });

  it('does not believe X-Forwarded-Proto without TRUST_PROXY', async () => {
    const spoofed = await login(h, await h.keyFor('viewer'), { 'x-forwarded-proto': 'https' });
    expect(spoofed.status).to.equal(303);
    expect(setCookies(spoofed.res).get(BULL_BOARD_SESSION_COOKIE)!.attributes).to.not.include('secure');
  });

  it('asks for the CSRF token on the login form and on every mutating request of a session', async () => {
    const jobId = await failedBatch(h);
    const key = await h.keyFor('operator');
    // The form posted without its token (from another site, say): refused, no session.
    const forged = await fetch(`${h.url}/admin/queues/login`, { method: 'POST', body: new URLSearchParams({ key }), redirect: 'manual' });
    expect(forged.status).to.equal(403);
    expect(setCookies(forged).has(BULL_BOARD_SESSION_COOKIE)).to.equal(false);

    const session = await login(h, key);
    const retry = `/admin/queues/api/queues/${QUEUE}/${jobId}/retry`;
    const without = await fetch(h.url + retry, { method: 'PUT', headers: { cookie: session.cookie! } });
    expect(without.status).to.equal(403);
    const wrong = await fetch(h.url + retry, { method: 'PUT', headers: { cookie: session.cookie!, [BULL_BOARD_CSRF_HEADER]: 'A'.repeat(43) } });
    expect(wrong.status).to.equal(403);
    expect(await h.queues.batchRuns('openserve').getJobState(jobId)).to.equal('failed');
    const right = await fetch(h.url + retry, { method: 'PUT', headers: { cookie: session.cookie!, [BULL_BOARD_CSRF_HEADER]: session.csrf! } });
    expect(right.status).to.be.within(200, 204);
    expect(await h.queues.batchRuns('openserve').getJobState(jobId)).to.equal('waiting');
  });

  it('answers a malformed session cookie with 401, not 500', async () => {
    for (const cookie of [`${BULL_BOARD_SESSION_COOKIE}=%E0%A4%A`, `${BULL_BOARD_SESSION_COOKIE}=`, `${BULL_BOARD_SESSION_COOKIE}="unterminated`, `;;;=;${BULL_BOARD_SESSION_COOKIE}==%%%`, `${BULL_BOARD_SESSION_COOKIE}=${'x'.repeat(5000)}`]) {
      const res = await get('/admin/queues/api/queues', { cookie, accept: 'application/json' });
      expect(res.status, cookie).to.equal(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).to.equal('UNAUTHENTICATED');
    }
  });

  it('throttles wrong keys on the login form by client address (429 with Retry-After), good keys included once over', async () => {
    for (let i = 0; i < 4; i++) expect((await login(h, `rpa_wrong-${i}`)).status).to.equal(401);
    const blocked = await login(h, await h.keyFor('operator'));
    expect(blocked.status).to.equal(429);
    expect(Number(blocked.res.headers.get('retry-after'))).to.be.within(1, 900);
    expect(blocked.session).to.equal(undefined);
    // The same count covers keys presented to the API.
    const api = await fetch(`${h.url}/jobs`, { headers: { authorization: `Bearer ${OPERATOR_BOOTSTRAP_KEY}` } });
    expect(api.status).to.equal(429);
  });

  it('gives a viewer a read-only board: it reads queues; every mutating route of Bull Board is refused (403) and changes nothing', async () => {
    const jobId = await failedBatch(h);
    const waiting = h.queues.providerJobs('openserve');
    const delayed = await waiting.add('job', { jobId: '1', trip: 0 }, { jobId: 'job-1-t0', delay: 3_600_000 });
    const viewer = { authorization: `Bearer ${await h.keyFor('viewer')}` };
    const queues = await get(`/admin/queues/api/queues?activeQueue=${QUEUE}&status=failed`, viewer);
    expect(queues.status).to.equal(200);
    const body = (await queues.json()) as { queues: Array<{ name: string; readOnlyMode: boolean; counts: Record<string, number> }> };
    const run = body.queues.find((q) => q.name === QUEUE)!;
    expect(run.readOnlyMode).to.equal(true);
    expect(run.counts.failed).to.equal(1);

    const routes = mutatingRoutes(jobId);
    // Bull Board's table as this version has it: the ones the issue lists are among them.
    expect(routes.map((r) => `${r.method} ${r.route}`)).to.include.members([
      'PUT /api/queues/:queueName/:jobId/retry',
      'PUT /api/queues/:queueName/:jobId/promote',
      'PUT /api/queues/:queueName/:jobId/clean',
      'PUT /api/queues/:queueName/pause',
      'PUT /api/queues/:queueName/resume',
      'PUT /api/queues/:queueName/clean/:queueStatus',
      'PUT /api/queues/:queueName/empty',
      'PUT /api/queues/:queueName/retry/:queueStatus',
      'PUT /api/queues/:queueName/promote',
      'PUT /api/queues/pause',
      'PUT /api/queues/resume',
    ]);
    const session = await login(h, await h.keyFor('viewer'));
    for (const { method, path } of [...routes, ...mutatingRoutes(delayed.id!).map((r) => ({ ...r, path: r.path.replace(QUEUE, 'jobs-openserve') }))]) {
      const byKey = await fetch(h.url + path, { method, headers: { ...viewer, 'content-type': 'application/json' }, body: method === 'GET' ? undefined : '{}' });
      expect(byKey.status, `${method} ${path} (key)`).to.equal(403);
      // With the session's valid CSRF token: refused for the role, not for a missing token.
      const bySession = await fetch(h.url + path, { method, headers: { cookie: session.cookie!, [BULL_BOARD_CSRF_HEADER]: session.csrf!, 'content-type': 'application/json' }, body: '{}' });
      expect(bySession.status, `${method} ${path} (session)`).to.equal(403);
      expect(((await bySession.json()) as { error: { message: string } }).error.message).to.contain('read-only');
    }
    expect(await h.queues.batchRuns('openserve').getJobState(jobId)).to.equal('failed');
    expect(await waiting.getJobState(delayed.id!)).to.equal('delayed');
    for (const q of h.queues.all()) expect(await q.isPaused(), q.name).to.equal(false);
    expect((await h.queues.batchRuns('openserve').getJobCounts('failed', 'waiting')).failed).to.equal(1);
    expect(await waiting.getJobCounts('delayed', 'waiting')).to.deep.include({ delayed: 1, waiting: 0 });

    // An operator's board does what the viewer's refused: board-wide pause and resume, a retry.
    const operator = { authorization: `Bearer ${await h.keyFor('operator')}` };
    const full = (await (await get('/admin/queues/api/queues', operator)).json()) as { queues: Array<{ name: string; readOnlyMode: boolean }> };
    expect(full.queues.find((q) => q.name === QUEUE)!.readOnlyMode).to.equal(false);
    expect((await fetch(`${h.url}/admin/queues/api/queues/pause`, { method: 'PUT', headers: operator })).status).to.equal(200);
    expect(await h.queues.batchRuns('openserve').isPaused()).to.equal(true);
    expect((await fetch(`${h.url}/admin/queues/api/queues/resume`, { method: 'PUT', headers: operator })).status).to.equal(200);
    expect(await h.queues.batchRuns('openserve').isPaused()).to.equal(false);
    const retried = await fetch(`${h.url}/admin/queues/api/queues/${QUEUE}/${jobId}/retry`, { method: 'PUT', headers: operator });
    expect(retried.status).to.be.within(200, 204);
    expect(await h.queues.batchRuns('openserve').getJobState(jobId)).to.equal('waiting');
    expect(full.queues.map((q) => q.name)).to.include.members(['jobs-openserve', 'jobs-octotel', 'jobs-metrofiber', 'jobs-evotel', 'batches-openserve', QUEUE, 'callbacks']);
  });

  describe('in a real browser', function () {
    this.timeout(120_000);
    let browser: Browser;
    before(async () => {
      browser = await chromium.launch({ executablePath: h?.config.chromiumPath ?? '/usr/bin/chromium', args: [...CHROMIUM_FLAGS], headless: true });
    });
    after(async () => {
      await browser?.close();
    });

    it('an operator logs in with the form, sees every queue and the failed batch, and retries it from the UI (its axios sends the CSRF token); a screenshot is saved', async () => {
      const jobId = await failedBatch(h);
      const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      try {
        const page = await context.newPage();
        const first = await page.goto(`${h.url}/admin/queues`);
        expect(first?.status()).to.equal(401);
        const key = await h.keyFor('operator');
        await page.getByLabel('API key').fill(key);
        await page.getByRole('button', { name: 'Log in' }).click();
        await page.waitForURL(`${h.url}/admin/queues`);
        const cookies = await context.cookies();
        const cookie = cookies.find((c) => c.name === BULL_BOARD_SESSION_COOKIE)!;
        expect(cookie).to.include({ httpOnly: true, sameSite: 'Strict', path: '/admin/queues' });
        expect(cookie.value).to.not.equal(key);
        expect(cookies.map((c) => c.value)).to.not.include(key);

        for (const name of ['jobs-openserve', 'batches-openserve', QUEUE, 'callbacks']) {
          await page.getByText(name, { exact: true }).first().waitFor();
        }
        await page.goto(`${h.url}/admin/queues/queue/${QUEUE}?status=failed`);
        await page.getByText('batch-4242-run').first().waitFor();
        await page.getByText('PORTAL_UNAVAILABLE: Openserve answered 503 three times').first().waitFor();
        mkdirSync(SCREENSHOT_DIR, { recursive: true });
        const file = join(SCREENSHOT_DIR, 'bull-board-failed-batch.png');
        await page.screenshot({ path: file, fullPage: true });
        expect(statSync(file).size).to.be.greaterThan(10_000);

        // The page's own fetch without the token is refused; the UI's Retry button (axios) gets through.
        const bare = await page.evaluate(async (path) => (await fetch(path, { method: 'PUT' })).status, `/admin/queues/api/queues/${QUEUE}/${jobId}/retry`);
        expect(bare).to.equal(403);
        expect(await h.queues.batchRuns('openserve').getJobState(jobId)).to.equal('failed');
        const answer = page.waitForResponse((r) => r.url().endsWith(`/${QUEUE}/retry/failed`) && r.request().method() === 'PUT');
        await page.getByRole('button', { name: 'Retry all', exact: true }).click();
        // Bull Board asks to confirm in a dialog.
        const dialog = page.getByRole('alertdialog').or(page.getByRole('dialog'));
        await dialog.getByRole('button', { name: /confirm|retry|ok|yes/i }).first().click({ timeout: 5_000 }).catch(() => undefined);
        const res = await answer;
        expect(res.status()).to.be.within(200, 204);
        expect(res.request().headers()[BULL_BOARD_CSRF_HEADER.toLowerCase()]).to.match(/^[A-Za-z0-9_-]{43}$/);
        expect(await h.queues.batchRuns('openserve').getJobState(jobId)).to.equal('waiting');
      } finally {
        await context.close();
      }
    });
  });
});
