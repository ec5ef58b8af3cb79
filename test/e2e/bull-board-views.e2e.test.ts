import { expect } from 'chai';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM_FLAGS } from '../../src/browser/pool/chromium-flags.js';
import { pauseProvider } from '../../src/db/provider-store.js';
import { batchFlowJobIds } from '../../src/queues/queue-names.js';
import { SYSTEM_API_KEY, startSystemHarness, waitForJobs, type SystemHarness } from '../support/system-harness.js';

const SCREENSHOTS = join(process.cwd(), 'test-results', 'bull-board');

/**
 * Bull Board as an operator reads it, in real Chromium, over the running system: jobs named by
 * action and circuit with their status, result and evidence; batches named by id, provider and
 * size with their progress, logins and circuits; a paused provider as paused queues.
 * Screenshots stay in test-results/bull-board/.
 */
describe('Bull Board shows circuits, batches and paused providers (real Chromium)', function () {
  this.timeout(300_000);
  let harness: SystemHarness;
  let browser: Browser;
  let page: Page;
  const circuits = ['OCT740001', 'OCT740002', 'OCT740003'];

  before(async () => {
    harness = await startSystemHarness({ BATCH_SIZE: '3' });
    await harness.portal('octotel', 'POST', '/__sandbox/reset');
    browser = await chromium.launch({ executablePath: harness.system.config.chromiumPath ?? '/usr/bin/chromium', args: [...CHROMIUM_FLAGS], headless: true });
    page = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
  });
  after(async () => {
    await browser?.close();
    await harness?.close();
  });

  const shot = async (name: string) => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    const file = join(SCREENSHOTS, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    expect(statSync(file).size).to.be.greaterThan(10_000);
  };
  const text = () => page.locator('body').innerText();

  it('names jobs by action and circuit, batches by id, provider and size, and shows what Postgres says of them', async () => {
    const res = await harness.api('POST', '/jobs/bulk', { provider: 'octotel', action: 'validation', jobs: circuits.map((circuit_number) => ({ circuit_number })) });
    expect(res.status).to.equal(202);
    const ids: number[] = res.body.job_ids;
    const jobs = await waitForJobs(harness, ids, 180_000);
    const batchId = String(jobs.get(ids[0]!).batch_id);

    await page.goto(`${harness.system.apiUrl}/admin/queues/login`);
    await page.getByLabel('API key').fill(SYSTEM_API_KEY);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${harness.system.apiUrl}/admin/queues`);

    await page.goto(`${harness.system.apiUrl}/admin/queues/queue/jobs-octotel?status=completed`);
    for (const circuit of circuits) await page.getByText(`validation ${circuit}`).first().waitFor();
    await shot('provider-queue');

    // One job: its circuit, status and result from Postgres, and a link to its evidence.
    const entry = `job-${ids[0]}-t0`;
    await page.goto(`${harness.system.apiUrl}/admin/queues/queue/jobs-octotel/${entry}`);
    await page.getByText(`validation ${circuits[0]}`).first().waitFor();
    // Bull Board draws the data as a tree: `key: value` lines.
    await page.getByText('"completed"').first().waitFor();
    const jobPage = await text();
    expect(jobPage).to.match(new RegExp(`circuit:\\s*"${circuits[0]}"`));
    expect(jobPage).to.match(/action:\s*"validation"/);
    expect(jobPage).to.match(/status:\s*"completed"/);
    expect(jobPage).to.match(/customer:\s*"Customer 740001"/);
    expect(jobPage).to.match(/"\/admin\/queues\/evidence\/\d+\/result-[^"]+"/);
    await shot('job');
    const link = /"(\/admin\/queues\/evidence\/\d+\/[^"]+)"/.exec(jobPage)![1]!;
    const image = await page.request.get(`${harness.system.apiUrl}${link}`);
    expect(image.status()).to.equal(200);
    expect(image.headers()['content-type']).to.match(/^image\//);

    // The batch run: its name, progress, logins and circuits.
    const run = batchFlowJobIds(batchId).run;
    await page.goto(`${harness.system.apiUrl}/admin/queues/queue/batch-run-octotel/${run}`);
    await page.getByText(`batch ${batchId} · octotel · 3 jobs`).first().waitFor();
    await page.getByText('"3/3"').first().waitFor();
    const batchPage = await text();
    expect(batchPage).to.match(/progress:\s*"3\/3"/);
    expect(batchPage).to.match(/logins:\s*1\b/);
    for (const circuit of circuits) expect(batchPage).to.include(`"${circuit}"`);
    await shot('batch-run');
  });

  it('shows a paused provider as paused queues', async () => {
    await pauseProvider(harness.database.db, 'evotel', { reason: 'contract_drift', message: 'test pause', actor: 'test' });
    const queue = harness.system.queues!.providerJobs('evotel');
    const deadline = Date.now() + 30_000;
    while (!(await queue.isPaused())) {
      if (Date.now() > deadline) throw new Error('jobs-evotel was not paused');
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(await harness.system.queues!.batchRuns('evotel').isPaused()).to.equal(true);
    await page.goto(`${harness.system.apiUrl}/admin/queues/queue/jobs-evotel`);
    await page.getByText(/paused/i).first().waitFor();
    await shot('paused-provider');
  });
});
