import { expect } from 'chai';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Worker, type ConnectionOptions } from 'bullmq';
import { chromium, type Browser } from 'playwright-core';
import { BULL_BOARD_COOKIE } from '../../src/api/bull-board-router.js';
import { CHROMIUM_FLAGS } from '../../src/browser/pool/chromium-flags.js';
import { createValkey } from '../../src/queues/valkey.js';
import { batchRunQueue } from '../../src/queues/queue-names.js';
import { sharedValkey } from '../support/shared-services.js';
import { startOperatorHarness, type OperatorHarness } from '../support/operator-harness.js';

const SCREENSHOT_DIR = join(process.cwd(), 'test-results');

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

describe('Bull Board at /admin/queues', () => {
  let h: OperatorHarness;
  beforeEach(async () => {
    h = await startOperatorHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  const get = (path: string, headers: Record<string, string> = {}) => fetch(h.url + path, { headers, redirect: 'manual' });

  it('refuses no key (401) and a submitter key (403) without showing job data, also through the login form', async () => {
    await failedBatch(h);
    for (const path of ['/admin/queues', '/admin/queues/api/queues', '/admin/queues/api/queues/batch-run-openserve/batch-4242-run']) {
      const none = await get(path, { accept: 'application/json' });
      expect(none.status, path).to.equal(401);
      const submitter = await get(path, { authorization: `Bearer ${await h.keyFor('submitter')}`, accept: 'application/json' });
      expect(submitter.status, path).to.equal(403);
      const cookie = await get(path, { cookie: `${BULL_BOARD_COOKIE}=${await h.keyFor('submitter')}` });
      expect(cookie.status, path).to.equal(403);
      const text = await cookie.text();
      expect(text).to.not.include('4242');
      expect(text).to.not.include('PORTAL_UNAVAILABLE');
    }
    const html = await get('/admin/queues', { accept: 'text/html' });
    expect(html.status).to.equal(401);
    expect(await html.text()).to.include('<form method="post" action="/admin/queues/login">');

    const login = await fetch(`${h.url}/admin/queues/login`, { method: 'POST', body: new URLSearchParams({ key: await h.keyFor('submitter') }), redirect: 'manual' });
    expect(login.status).to.equal(403);
    expect(login.headers.get('set-cookie')).to.equal(null);
    const wrong = await fetch(`${h.url}/admin/queues/login`, { method: 'POST', body: new URLSearchParams({ key: 'not-a-key' }), redirect: 'manual' });
    expect(wrong.status).to.equal(401);
  });

  it('gives a viewer a read-only board: it reads queues, Bull Board refuses retry and clean', async () => {
    const jobId = await failedBatch(h);
    const viewer = { authorization: `Bearer ${await h.keyFor('viewer')}` };
    const queues = await get('/admin/queues/api/queues?activeQueue=batch-run-openserve&status=failed', viewer);
    expect(queues.status).to.equal(200);
    const body = (await queues.json()) as { queues: Array<{ name: string; readOnlyMode: boolean; counts: Record<string, number> }> };
    const run = body.queues.find((q) => q.name === 'batch-run-openserve')!;
    expect(run.readOnlyMode).to.equal(true);
    expect(run.counts.failed).to.equal(1);
    for (const path of [
      `/admin/queues/api/queues/batch-run-openserve/${jobId}/retry`,
      '/admin/queues/api/queues/batch-run-openserve/retry/failed',
      '/admin/queues/api/queues/batch-run-openserve/clean/failed',
      `/admin/queues/api/queues/batch-run-openserve/${jobId}/clean`,
    ]) {
      const refused = await fetch(h.url + path, { method: 'PUT', headers: viewer });
      expect(refused.status, path).to.equal(405);
    }
    expect(await h.queues.batchRuns('openserve').getJobState(jobId)).to.equal('failed');

    const operator = { authorization: `Bearer ${await h.keyFor('operator')}` };
    const full = (await (await get('/admin/queues/api/queues', operator)).json()) as { queues: Array<{ name: string; readOnlyMode: boolean }> };
    expect(full.queues.find((q) => q.name === 'batch-run-openserve')!.readOnlyMode).to.equal(false);
    const retried = await fetch(`${h.url}/admin/queues/api/queues/batch-run-openserve/${jobId}/retry`, { method: 'PUT', headers: operator });
    expect(retried.status).to.be.within(200, 204);
    expect(await h.queues.batchRuns('openserve').getJobState(jobId)).to.equal('waiting');
    expect(full.queues.map((q) => q.name)).to.include.members(['jobs-openserve', 'jobs-octotel', 'jobs-metrofiber', 'jobs-evotel', 'batches-openserve', 'batch-run-openserve', 'callbacks']);
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

    it('an operator logs in with the form, sees every queue and the failed batch; a screenshot is saved', async () => {
      await failedBatch(h);
      const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      try {
        const page = await context.newPage();
        const first = await page.goto(`${h.url}/admin/queues`);
        expect(first?.status()).to.equal(401);
        await page.getByLabel('API key').fill(await h.keyFor('operator'));
        await page.getByRole('button', { name: 'Log in' }).click();
        await page.waitForURL(`${h.url}/admin/queues`);
        const cookies = await context.cookies();
        const cookie = cookies.find((c) => c.name === BULL_BOARD_COOKIE)!;
        expect(cookie).to.include({ httpOnly: true, sameSite: 'Strict', path: '/admin/queues' });

        for (const name of ['jobs-openserve', 'batches-openserve', 'batch-run-openserve', 'callbacks']) {
          await page.getByText(name, { exact: true }).first().waitFor();
        }
        await page.goto(`${h.url}/admin/queues/queue/batch-run-openserve?status=failed`);
        await page.getByText('batch-4242-run').first().waitFor();
        await page.getByText('PORTAL_UNAVAILABLE: Openserve answered 503 three times').first().waitFor();
        mkdirSync(SCREENSHOT_DIR, { recursive: true });
        const file = join(SCREENSHOT_DIR, 'bull-board-failed-batch.png');
        await page.screenshot({ path: file, fullPage: true });
        const { statSync } = await import('node:fs');
        expect(statSync(file).size).to.be.greaterThan(10_000);
      } finally {
        await context.close();
      }
    });
  });
});
