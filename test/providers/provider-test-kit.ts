import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { expect } from 'chai';
import { generate } from 'otplib';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { defaultChromiumPath } from '../../src/config/settings.js';
import { RpaError, isRpaError } from '../../src/errors/failures.js';
import { startPracticePortal, type PracticePortal, type PracticePortalFactory } from '../../src/portals/practice-portals.js';
import type { ProviderAutomation, ProviderDescriptor } from '../../src/providers/provider.js';
import { ProviderSession, type ProviderSessionOptions } from '../../src/providers/provider-session.js';
import { sha256Hex } from '../../src/evidence/audit-chain.js';
import type { EvidenceItem } from '../../src/evidence/evidence-item.js';
import { EvidenceRecorder } from '../../src/evidence/evidence-recorder.js';
import { FsEvidenceStore } from '../../src/evidence/fs-evidence-store.js';
import { processTree } from '../support/process-tree.js';
import { testLogger, testRoot } from '../support/shared-services.js';
import { CHROMIUM_FLAGS } from '../../src/browser/pool/chromium-flags.js';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: defaultChromiumPath() ?? '/usr/bin/chromium', args: [...CHROMIUM_FLAGS], timeout: 30_000 });
}

export interface PortalStats {
  logins_ok: number;
  logins_failed: number;
  totp_ok: number;
  totp_rejected_reused: number;
  totp_rejected_invalid: number;
  active_sessions: number;
  requests: number;
  errors_injected: number;
  cancellations: Record<string, number>;
  duplicate_cancel_attempts: number;
}

/** The control API of a practice portal (SPEC.md "Control API"). */
export class PortalControl {
  constructor(readonly url: string) {}

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const response = await fetch(`${this.url}/__sandbox/${path}`, {
      method,
      headers: body === undefined ? undefined : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`control ${method} ${path} answered ${response.status}: ${await response.text()}`);
    return response.json();
  }

  reset(): Promise<unknown> {
    return this.call('POST', 'reset');
  }

  seed(circuits: Array<Record<string, string>>): Promise<unknown> {
    return this.call('POST', 'circuits', circuits);
  }

  configure(patch: Record<string, number | boolean>): Promise<unknown> {
    return this.call('POST', 'config', patch);
  }

  /** The practice portals' lost-answer knob (not part of SPEC.md; docs/practice-portals.md). */
  loseCancelAnswers(count: number, as: 'reset' | '503'): Promise<unknown> {
    return this.call('POST', 'faults', { lose_cancel_answers: count, as });
  }

  async stats(): Promise<PortalStats> {
    return (await this.call('GET', 'stats')) as PortalStats;
  }
}

/**
 * A TOTP source like the central manager: each call returns the code of a step not handed
 * out before (current, then the next, then the previous), so two logins in one 30 s step
 * do not replay a code.
 */
export function totpSource(secret: string): { getTotp: () => Promise<string>; outcomes: string[]; reportTotp: (o: 'accepted' | 'refused') => Promise<void> } {
  const used = new Set<number>();
  const outcomes: string[] = [];
  return {
    outcomes,
    async getTotp() {
      const now = Math.floor(Date.now() / 1000 / 30);
      const step = [now, now + 1, now - 1].find((s) => !used.has(s));
      if (step === undefined) throw new Error('no unused TOTP step in the window');
      used.add(step);
      return generate({ secret, epoch: step * 30 });
    },
    async reportTotp(outcome) {
      outcomes.push(outcome);
    },
  };
}

/** Circuit data the portal derives from the digits (SPEC.md "Circuit data"). */
export function derived(digits: string): { customer: string; address: string; speed: string } {
  const speeds = ['25/25 Mbps', '50/50 Mbps', '100/50 Mbps', '200/100 Mbps', '1000/500 Mbps'];
  const e = Number(digits[digits.length - 2]);
  return {
    customer: `Customer ${digits}`,
    address: `${(Number(digits) % 997) + 1} Fibre Street, Cape Town`,
    speed: speeds[e % 5],
  };
}

/** Everything a provider's shared suite needs to know about it. */
export interface ProviderTestSpec {
  automation: ProviderAutomation;
  /** How many digits the circuit number has. */
  digitCount: number;
  /** Builds a circuit number from exactly `digitCount` digits. */
  circuit(digits: string): string;
  /** A number the portal itself calls invalid, though it passes a catch-all pattern. */
  portalInvalidNumber: string;
  /** Builds an automation of the same provider with another descriptor. */
  withDescriptor(descriptor: ProviderDescriptor): ProviderAutomation;
  /** The provider's own practice portal, when it is not one of those src/portals ships. */
  practicePortal?: PracticePortalFactory;
}

/** Digits of length `count` ending in `tail`, starting from `seed` for variety. */
export function digitsEnding(count: number, tail: string, seed = 1): string {
  const head = String(seed).padStart(count - tail.length, '0').slice(-(count - tail.length));
  return head + tail;
}

/** A running portal, a browser and helpers for one provider's test file. */
export class ProviderHarness {
  browser!: Browser;
  portal!: PracticePortal;
  control!: PortalControl;
  readonly evidenceDir: string;
  /** The fs evidence store under evidenceDir, and the recorder every session uploads through. */
  readonly evidenceStore: FsEvidenceStore;
  readonly evidence: EvidenceRecorder;
  /** Contexts opened by `session()`, newest last. */
  readonly contexts: BrowserContext[] = [];
  private sessions: ProviderSession[] = [];

  constructor(
    readonly automation: ProviderAutomation,
    private readonly practicePortal?: PracticePortalFactory,
  ) {
    this.evidenceDir = join(testRoot(), 'evidence');
    this.evidenceStore = new FsEvidenceStore(this.evidenceDir);
    this.evidence = new EvidenceRecorder(this.evidenceStore);
  }

  /** The stored bytes of an item, checked against its sha256 and size (fails the test otherwise). */
  async stored(item: EvidenceItem): Promise<Buffer> {
    const bytes = await this.evidenceStore.get(item.key);
    expect(bytes, `stored object of ${item.name}`).to.be.instanceOf(Buffer);
    expect(sha256Hex(bytes!), `sha256 of ${item.name}`).to.equal(item.sha256);
    expect(bytes!.length).to.equal(item.bytes);
    return bytes!;
  }

  /** The JSON record of a failure among `items` (the one item of type application/json). */
  async failureRecord(items: readonly EvidenceItem[]): Promise<Record<string, unknown>> {
    const records = items.filter((i) => i.contentType === 'application/json');
    expect(records, 'one failure record').to.have.length(1);
    return JSON.parse((await this.stored(records[0]!)).toString('utf8'));
  }

  get descriptor(): ProviderDescriptor {
    return this.automation.descriptor;
  }

  async start(): Promise<void> {
    this.browser = await launchChromium();
    this.portal = await startPracticePortal(this.descriptor.name, {
      port: 0,
      account: this.descriptor.practiceAccount,
      logger: testLogger,
      factory: this.practicePortal,
    });
    this.control = new PortalControl(this.portal.url);
  }

  async stop(): Promise<void> {
    await this.cleanup();
    await this.browser?.close();
    await this.portal?.close();
  }

  /** Closes every session and context a test opened. */
  async cleanup(): Promise<void> {
    for (const session of this.sessions.splice(0)) await session.close().catch(() => undefined);
    for (const context of this.contexts.splice(0)) await context.close().catch(() => undefined);
  }

  async session(overrides: Partial<ProviderSessionOptions> = {}): Promise<ProviderSession & { totp?: ReturnType<typeof totpSource> }> {
    const context = await this.browser.newContext();
    this.contexts.push(context);
    const account = this.descriptor.practiceAccount;
    const totp = this.descriptor.needsTotp ? totpSource(account.totpSecret!) : undefined;
    const session = new ProviderSession({
      automation: this.automation,
      context,
      baseUrl: this.portal.url,
      credentials: { login: account.login, password: account.password },
      getTotp: totp?.getTotp,
      reportTotp: totp?.reportTotp,
      evidence: this.evidence,
      batchId: `batch-${this.sessions.length + 1}`,
      logger: testLogger,
      ...overrides,
    });
    this.sessions.push(session);
    return Object.assign(session, { totp });
  }
}

/** Awaits a promise that must reject with an RpaError and returns that error. */
export async function rejection(promise: Promise<unknown>): Promise<RpaError> {
  try {
    await promise;
  } catch (thrown) {
    if (!isRpaError(thrown)) throw thrown;
    return thrown;
  }
  expect.fail('expected the operation to fail');
}

/** Waits until the portal has injected at least `count` 503s, polling its control API. */
export async function untilErrorsInjected(control: PortalControl, count: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await control.stats()).errors_injected < count) {
    if (Date.now() > deadline) throw new Error(`the portal injected fewer than ${count} errors in ${timeoutMs} ms`);
    await delay(50);
  }
}

export function fileExists(path: string): boolean {
  return existsSync(path);
}

/** The steps of the evidence screenshots (`<step>-<time>.png`), in the order they were taken. */
export function evidenceLabels(items: readonly EvidenceItem[]): string[] {
  return items.filter((i) => i.contentType === 'image/png').map((i) => i.step);
}

/** Evidence items as a failed operation's error carries them. */
export function errorEvidence(error: RpaError): EvidenceItem[] {
  return (error.details?.evidence ?? []) as EvidenceItem[];
}

/** The pids of the renderer processes of the browsers this process launched (found again on every call: pages come and go). */
function rendererPids(): number[] {
  return processTree(process.pid).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--type=renderer');
    } catch {
      return false; // ended meanwhile
    }
  });
}

/**
 * A starved browser, for real: the renderers of the browsers this process launched are stopped
 * (SIGSTOP) for a random time in `stopMs`, let run for a random time in `runMs`, over and over
 * until the returned function is called (which lets them go on and says how many stops held a renderer).
 */
export function starveRenderers({ stopMs, runMs }: { stopMs: [number, number]; runMs: [number, number] }): () => Promise<number> {
  let running = true;
  let stops = 0;
  const within = ([low, high]: [number, number]) => low + Math.random() * (high - low);
  const signal = (pids: number[], name: NodeJS.Signals) => pids.forEach((pid) => { try { process.kill(pid, name); } catch { /* gone */ } });
  const loop = (async () => {
    while (running) {
      const pids = rendererPids();
      signal(pids, 'SIGSTOP');
      await delay(within(stopMs));
      signal(pids, 'SIGCONT');
      if (pids.length > 0) stops++;
      if (running) await delay(within(runMs));
    }
  })();
  return async () => {
    running = false;
    await loop;
    signal(rendererPids(), 'SIGCONT');
    return stops;
  };
}
