import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { sql } from 'kysely';
import { verifyCallbackSignature } from '../../../src/callbacks/callback-signature.js';
import { sha256Hex } from '../../../src/evidence/audit-chain.js';
import { derivedCircuit } from '../../support/expected-circuit.js';
import { testRoot } from '../../support/shared-services.js';
import { CALLBACK_SECRET, SYSTEM_API_KEY, waitForJobs, type CallbackReceiver, type SystemHarness } from '../../support/system-harness.js';

const exec = promisify(execFile);

export const PROVIDERS = ['octotel', 'openserve', 'metrofiber', 'evotel'] as const;

/** A circuit of `provider` that the practice portal derives as active (last digit 1–6). */
export function activeCircuit(provider: string, seed: number): string {
  const digits = String(seed).padStart(8, '0');
  const circuit = provider === 'octotel' ? `OCT${digits.slice(-6)}` : provider === 'openserve' ? `OSN${digits.slice(-7)}` : provider === 'metrofiber' ? `MFN-${digits.slice(-8, -4)}-${digits.slice(-4)}` : `EVO${digits.slice(-6)}`;
  expect(derivedCircuit(provider, circuit).status, circuit).to.equal('active');
  return circuit;
}

export interface SubmittedJob {
  id: number;
  provider: string;
  action: 'validation' | 'cancellation';
  circuit: string;
}

/** A validation and a cancellation of an active circuit per provider, each with the receiver as callback. */
export async function submitOnePairPerProvider(harness: SystemHarness, receiver: CallbackReceiver, seed: number): Promise<SubmittedJob[]> {
  const submitted: SubmittedJob[] = [];
  for (const [p, provider] of PROVIDERS.entries()) {
    for (const [a, action] of (['validation', 'cancellation'] as const).entries()) {
      const circuit = activeCircuit(provider, seed + 10 * p + a);
      const res = await harness.api('POST', '/jobs', { provider, action, circuit_number: circuit, callback_url: receiver.url });
      expect(res.status, JSON.stringify(res.body)).to.equal(202);
      submitted.push({ id: res.body.job_id, provider, action, circuit });
    }
  }
  return submitted;
}

async function raw(harness: SystemHarness, path: string, headers: Record<string, string> = { authorization: `Bearer ${SYSTEM_API_KEY}` }) {
  const res = await fetch(harness.system.apiUrl + path, { headers });
  return { status: res.status, type: res.headers.get('content-type'), body: Buffer.from(await res.arrayBuffer()) };
}

/** Text that must appear in no API answer or callback: where this machine keeps anything. */
export function serverPaths(harness: SystemHarness, more: string[] = []): string[] {
  return [testRoot(), harness.system.config.dataDir, harness.system.config.evidenceDir, ...more];
}

/**
 * The end-to-end promises of issue 15 for jobs that ran: each lists evidence objects whose URLs
 * serve the listed bytes (sha256) with an image type to a key that may read the job and to no
 * one else, the audit route's chain ends at the job's head, and each callback carries the same
 * items with absolute URLs at `publicBase` and that head. Returns the job views.
 */
export async function checkServedEvidence(harness: SystemHarness, receiver: CallbackReceiver, submitted: SubmittedJob[], publicBase: string, paths: string[]): Promise<Map<number, any>> {
  const jobs = await waitForJobs(harness, submitted.map((s) => s.id), 300_000);
  const answers: string[] = [];
  for (const s of submitted) {
    const job = jobs.get(s.id);
    answers.push(JSON.stringify(job));
    expect(job.status, `job ${s.id} (${s.provider} ${s.action}): ${JSON.stringify(job.error)}`).to.equal('completed');
    const steps = job.evidence.map((e: { step: string }) => e.step);
    expect(steps, `${s.provider} ${s.action}`).to.deep.equal(s.action === 'validation' ? ['result'] : ['filled-form', 'confirmation']);
    expect(job.audit_head).to.match(/^[0-9a-f]{64}$/);
    for (const item of job.evidence) {
      expect(item).to.have.keys(['name', 'url', 'sha256', 'content_type', 'bytes', 'taken_at', 'step']);
      expect(item.url).to.equal(`/jobs/${s.id}/evidence/${item.name}`);
      const served = await raw(harness, item.url);
      expect(served.status, item.url).to.equal(200);
      expect(served.type).to.match(/^image\//);
      expect(sha256Hex(served.body), `sha256 of ${item.url}`).to.equal(item.sha256);
      expect(served.body.length).to.equal(item.bytes);
      expect(served.body.subarray(1, 4).toString('latin1'), 'a PNG').to.equal('PNG');
      expect((await raw(harness, item.url, {})).status, 'no key').to.equal(401);
      expect((await raw(harness, item.url, { authorization: 'Bearer not-a-key-0123456789abcdef' })).status, 'unknown key').to.equal(401);
    }
    expect((await raw(harness, `/jobs/${s.id}/evidence/no-such-item.png`)).status).to.equal(404);
    expect((await raw(harness, `/jobs/${s.id}/evidence/..%2F..%2Fetc%2Fpasswd`)).status).to.equal(404);

    const audit = await harness.api('GET', `/jobs/${s.id}/audit`);
    expect(audit.status).to.equal(200);
    answers.push(JSON.stringify(audit.body));
    expect(audit.body.chain.head).to.equal(job.audit_head);
    const entries = audit.body.chain.entries as Array<{ seq: number; kind: string; sha256: string; prev: string; hash: string; ref: unknown }>;
    expect(entries.map((e) => e.seq)).to.deep.equal(entries.map((_, i) => i + 1));
    expect(entries[0]!.prev).to.equal('0'.repeat(64));
    for (let i = 1; i < entries.length; i++) expect(entries[i]!.prev).to.equal(entries[i - 1]!.hash);
    expect(entries.filter((e) => e.kind === 'event').map((e) => e.ref)).to.deep.equal(audit.body.events.map((e: { id: string }) => Number(e.id)));
    expect(entries.filter((e) => e.kind === 'evidence').map((e) => e.ref)).to.deep.equal(job.evidence.map((e: { name: string }) => e.name));
    expect(audit.body.evidence).to.deep.equal(job.evidence);
  }

  // Every job's callback: signed, the same items with absolute URLs, the audit head.
  const deadline = Date.now() + 60_000;
  const bodies = () => new Map(receiver.received.map((r) => [JSON.parse(r.body).job_id as number, r]));
  while (submitted.some((s) => !bodies().has(s.id)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
  for (const s of submitted) {
    const received = bodies().get(s.id);
    expect(received, `callback of job ${s.id}`).to.not.equal(undefined);
    expect(verifyCallbackSignature(String(received!.headers['x-rpa-signature']), received!.body, CALLBACK_SECRET)).to.equal(true);
    answers.push(received!.body);
    const body = JSON.parse(received!.body);
    const job = jobs.get(s.id);
    expect(body).to.have.keys(['job_id', 'status', 'result', 'error', 'batch_id', 'evidence', 'audit_head', 'completed_at']);
    expect(body.audit_head).to.equal(job.audit_head);
    expect(body.evidence).to.deep.equal(job.evidence.map((e: { url: string }) => ({ ...e, url: publicBase + e.url })));
    for (const item of body.evidence) expect(item.url).to.match(/^https?:\/\/[^/]+\/jobs\/\d+\/evidence\//);
  }
  for (const text of answers) for (const path of paths) expect(text, 'an API answer or callback names a server path').to.not.contain(path);
  return jobs;
}

/** Runs `rpa` (bin/rpa.mjs) with `env`; resolves with its exit code and output. */
export async function rpa(env: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [join(process.cwd(), 'bin', 'rpa.mjs'), ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/**
 * `rpa evidence verify` on a job as an operator would: intact; then one stored object changed by
 * a byte (`flipByte` does it where the store keeps it, as an attacker with access to it would)
 * → fails naming that item, and the API refuses to serve it; put back → intact; then an event row
 * edited in Postgres with the append-only trigger disabled → fails naming that event.
 */
export async function checkVerify(harness: SystemHarness, env: Record<string, string>, jobId: number, batchId: number, callbackHead: string, flipByte: (objectKey: string) => Promise<() => Promise<void>>): Promise<void> {
  const db = harness.database.db;
  const intact = await rpa(env, 'evidence', 'verify', String(jobId));
  expect(intact.code, intact.stderr + intact.stdout).to.equal(0);
  expect(intact.stdout).to.match(new RegExp(`^job ${jobId}: intact`));
  expect((await rpa(env, 'evidence', 'verify', String(jobId), '--head', callbackHead)).code, 'the head ORDS holds').to.equal(0);
  const wholeBatch = await rpa(env, 'evidence', 'verify', '--batch', String(batchId));
  expect(wholeBatch.code, wholeBatch.stdout + wholeBatch.stderr).to.equal(0);

  const item = await db.selectFrom('job_evidence').select(['name', 'object_key']).where('job_id', '=', String(jobId)).orderBy('id').executeTakeFirstOrThrow();
  const restore = await flipByte(item.object_key);
  const changed = await rpa(env, 'evidence', 'verify', String(jobId));
  expect(changed.code).to.not.equal(0);
  expect(changed.stdout).to.contain(`evidence ${item.name}: the stored bytes`);
  expect(changed.stderr).to.contain(`evidence ${item.name}`);
  expect((await raw(harness, `/jobs/${jobId}/evidence/${item.name}`)).status, 'a changed object is not served').to.equal(409);
  await restore();
  expect((await rpa(env, 'evidence', 'verify', String(jobId))).code).to.equal(0);

  const event = await db.selectFrom('job_events').select(['id']).where('job_id', '=', String(jobId)).where('to_status', '=', 'completed').executeTakeFirstOrThrow();
  await sql`ALTER TABLE job_events DISABLE TRIGGER job_events_append_only`.execute(db);
  await sql`UPDATE job_events SET cause = 'edited by an attacker' WHERE id = ${event.id}`.execute(db);
  await sql`ALTER TABLE job_events ENABLE TRIGGER job_events_append_only`.execute(db);
  const edited = await rpa(env, 'evidence', 'verify', String(jobId));
  expect(edited.code).to.not.equal(0);
  expect(edited.stdout).to.contain(`event ${event.id}: the row`);
  expect(edited.stdout).to.not.contain('evidence ');
  expect((await rpa(env, 'evidence', 'verify', '--batch', String(batchId))).code, 'the batch has a job that does not match').to.not.equal(0);
}
