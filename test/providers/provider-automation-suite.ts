import { setTimeout as delay } from 'node:timers/promises';
import { expect } from 'chai';
import type { CancellationResult } from '../../src/providers/provider.js';
import { ProviderHarness, derived, digitsEnding, errorEvidence, evidenceLabels, rejection, untilErrorsInjected, type ProviderTestSpec } from './provider-test-kit.js';

/**
 * The behaviour every provider automation must show against its practice portal (SPEC.md),
 * run with real Chromium. Each provider's test file calls this and adds its own cases.
 */
export function describeProviderAutomation(spec: ProviderTestSpec, extra?: (h: ProviderHarness) => void): void {
  const d = spec.automation.descriptor;
  const prefix = d.referencePrefix;
  const circuitFor = (tail: string, seed = 1) => {
    const digits = digitsEnding(spec.digitCount, tail, seed);
    return { digits, number: spec.circuit(digits) };
  };

  describe(`${d.label} automation against its practice portal`, function () {
    this.timeout(90_000);
    const h = new ProviderHarness(spec.automation, spec.practicePortal);

    before(async function () {
      this.timeout(60_000);
      await h.start();
    });
    after(async () => {
      await h.stop();
    });
    beforeEach(async () => {
      await h.control.reset();
    });
    afterEach(async () => {
      await h.cleanup();
    });

    describe('validation', () => {
      for (const [status, tail] of [
        ['active', '21'],
        ['pending', '37'],
        ['suspended', '48'],
      ] as const) {
        it(`reads a circuit that is ${status}, with the data the portal derives`, async () => {
          const { digits, number } = circuitFor(tail, 4);
          const session = await h.session();
          const { result, evidence } = await session.validate('j1', number);
          expect(result).to.deep.equal({ found: true, circuit_number: number, status, ...derived(digits), cancellation_reference: null });
          // Evidence point: the page as the portal showed the result.
          expect(evidenceLabels(evidence)).to.deep.equal(['result']);
          await h.stored(evidence[0]!);
          expect(evidence[0]!.name).to.match(/^result-\d{8}T\d{9}Z\.png$/);
          expect(session.loginCount).to.equal(1);
        });
      }

      it('reads a cancelled circuit with its existing reference', async () => {
        const { digits, number } = circuitFor('59', 7);
        const session = await h.session();
        const { result } = await session.validate('j1', number);
        expect(result).to.deep.equal({
          found: true,
          circuit_number: number,
          status: 'cancelled',
          ...derived(digits),
          cancellation_reference: `${prefix}-CAN-9${digits.slice(-5)}`,
        });
      });

      it('reads seeded circuits, one login for several jobs', async () => {
        const active = circuitFor('11', 3).number;
        const cancelled = circuitFor('12', 3).number;
        await h.control.seed([
          { circuit_number: active, status: 'suspended', customer: 'Seeded Customer', address: '1 Seed Road, Durban', speed: '50/50 Mbps' },
          { circuit_number: cancelled, status: 'cancelled', customer: 'Gone Customer', address: '2 Seed Road, Durban', speed: '25/25 Mbps' },
        ]);
        const session = await h.session();
        const first = await session.validate('j1', active);
        expect(first.result).to.deep.equal({
          found: true,
          circuit_number: active,
          status: 'suspended',
          customer: 'Seeded Customer',
          address: '1 Seed Road, Durban',
          speed: '50/50 Mbps',
          cancellation_reference: null,
        });
        const second = await session.validate('j2', cancelled);
        expect(second.result).to.include({ found: true, status: 'cancelled', cancellation_reference: `${prefix}-CAN-000001` });
        expect(session.loginCount).to.equal(1);
        expect((await h.control.stats()).logins_ok).to.equal(1);
      });

      it('answers found:false for a circuit the portal does not know', async () => {
        const { number } = circuitFor('30', 2);
        const session = await h.session();
        const { result } = await session.validate('j1', number);
        expect(result).to.deep.equal({ found: false, circuit_number: number });
      });

      it('answers found:false for a seeded-missing circuit', async () => {
        const { number } = circuitFor('22', 2);
        await h.control.seed([{ circuit_number: number, status: 'missing' }]);
        const session = await h.session();
        expect((await session.validate('j1', number)).result).to.deep.equal({ found: false, circuit_number: number });
      });

      it('fails an invalid number with INVALID_CIRCUIT before touching the portal', async () => {
        const session = await h.session();
        await session.login();
        const before = (await h.control.stats()).requests;
        const error = await rejection(session.validate('j1', 'NOT-A-CIRCUIT'));
        expect(error.code).to.equal('INVALID_CIRCUIT');
        expect(error.retryable).to.equal(false);
        expect(error.field).to.equal('circuit_number');
        expect((await h.control.stats()).requests).to.equal(before);
      });

      it('maps the portal\'s own "invalid" answer to INVALID_CIRCUIT', async () => {
        const permissive = spec.withDescriptor({ ...d, circuitPattern: /^.+$/ });
        const session = await h.session({ automation: permissive });
        const error = await rejection(session.validate('j1', spec.portalInvalidNumber));
        expect(error.code).to.equal('INVALID_CIRCUIT');
        expect(error.message).to.contain(d.label);
        // The page at the failure, and beside it the failure's record.
        expect(evidenceLabels(errorEvidence(error))).to.deep.equal(['failed']);
        expect(await h.failureRecord(errorEvidence(error))).to.include({ step: 'failed', code: 'INVALID_CIRCUIT' });
      });
    });

    describe('cancellation', () => {
      it('cancels an active circuit: reference, evidence, one cancellation', async () => {
        const { number } = circuitFor('14', 5);
        const session = await h.session();
        const { result, evidence } = await session.cancel('j7', { circuit_number: number, reason: 'migration' });
        expect(result.found).to.equal(true);
        expect(result.cancelled).to.equal(true);
        expect(result.already_cancelled).to.equal(false);
        expect(result.reference).to.equal(`${prefix}-CAN-000001`);
        // Evidence points: the filled form before the submission, the confirmation after it.
        expect(evidenceLabels(evidence)).to.deep.equal(['filled-form', 'confirmation']);
        for (const item of evidence) await h.stored(item);
        expect(evidence[1]!.name).to.match(/^confirmation-\d{8}T\d{9}Z\.png$/);
        expect(evidence[1]!.key).to.equal(`jobs/j7/${evidence[1]!.name}`);
        expect(evidence[0]!.takenAt.getTime()).to.be.below(evidence[1]!.takenAt.getTime());
        const stats = await h.control.stats();
        expect(stats.cancellations).to.deep.equal({ [number]: 1 });
        expect(stats.duplicate_cancel_attempts).to.equal(0);

        const after = await session.validate('j8', number);
        expect(after.result).to.include({ status: 'cancelled', cancellation_reference: result.reference });
      });

      it('cancels a pending circuit with an explicit future date', async () => {
        const { number } = circuitFor('27', 5);
        const future = new Date(Date.now() + 10 * 86_400_000);
        const iso = `${future.getFullYear()}-${String(future.getMonth() + 1).padStart(2, '0')}-${String(future.getDate()).padStart(2, '0')}`;
        const session = await h.session();
        const { result } = await session.cancel('j1', { circuit_number: number, effective_date: iso, reason: 'non_payment' });
        expect(result).to.deep.equal({ found: true, circuit_number: number, cancelled: true, already_cancelled: false, reference: `${prefix}-CAN-000001` });
      });

      it('does not submit again for an already-cancelled circuit', async () => {
        const { digits, number } = circuitFor('49', 6);
        const session = await h.session();
        const { result, evidence } = await session.cancel('j1', { circuit_number: number });
        const expected: CancellationResult = {
          found: true,
          circuit_number: number,
          cancelled: true,
          already_cancelled: true,
          reference: `${prefix}-CAN-9${digits.slice(-5)}`,
        };
        expect(result).to.deep.equal(expected);
        expect(evidenceLabels(evidence)).to.deep.equal(['already-cancelled']);
        expect(evidence).to.have.length(1);
        await h.stored(evidence[0]!);
        const stats = await h.control.stats();
        expect(stats.duplicate_cancel_attempts).to.equal(0);
        expect(stats.cancellations).to.deep.equal({});
      });

      it('is safe to repeat: the second run returns the first reference without submitting', async () => {
        const { number } = circuitFor('13', 8);
        const session = await h.session();
        const first = await session.cancel('j1', { circuit_number: number });
        const second = await session.cancel('j1', { circuit_number: number });
        expect(second.result).to.deep.equal({ ...first.result, already_cancelled: true });
        const stats = await h.control.stats();
        expect(stats.cancellations).to.deep.equal({ [number]: 1 });
        expect(stats.duplicate_cancel_attempts).to.equal(0);
      });

      it('returns the existing reference when the circuit is cancelled between the read and the submission', async () => {
        const { number } = circuitFor('17', 8);
        const session = await h.session();
        await session.login();
        let raced = 0;
        // Someone else cancels the circuit just as the robot submits: the portal's own answer must win.
        await h.contexts[h.contexts.length - 1].route(
          (url) => url.toString().includes('cancel'),
          async (route) => {
            if (route.request().method() === 'POST' && raced++ === 0) {
              await h.control.seed([{ circuit_number: number, status: 'cancelled', customer: 'Raced', address: '1 Race Road, Cape Town', speed: '25/25 Mbps' }]);
            }
            await route.continue();
          },
        );
        const { result, evidence } = await session.cancel('j1', { circuit_number: number });
        expect(raced).to.equal(1);
        expect(result).to.deep.equal({ found: true, circuit_number: number, cancelled: true, already_cancelled: true, reference: `${prefix}-CAN-000001` });
        expect(evidenceLabels(evidence)).to.deep.equal(['filled-form', 'already-cancelled']);
        expect(evidence[1]!.name).to.match(/^already-cancelled-/);
        const stats = await h.control.stats();
        expect(stats.duplicate_cancel_attempts).to.equal(1);
        expect(stats.cancellations[number] ?? 0).to.equal(0);
      });

      it('answers found:false for a circuit that is not there', async () => {
        const { number } = circuitFor('40', 8);
        const session = await h.session();
        const { result, evidence } = await session.cancel('j1', { circuit_number: number });
        expect(result).to.deep.equal({ found: false, circuit_number: number, cancelled: false, already_cancelled: false, reference: null });
        // Evidence that there was nothing to cancel: the search's answer.
        expect(evidenceLabels(evidence)).to.deep.equal(['not-found']);
        await h.stored(evidence[0]!);
        expect((await h.control.stats()).cancellations).to.deep.equal({});
      });

      it('refuses bad parameters before touching the portal', async () => {
        const { number } = circuitFor('15', 8);
        const session = await h.session();
        await session.login();
        const before = (await h.control.stats()).requests;
        expect((await rejection(session.cancel('j1', { circuit_number: number, reason: 'boredom' }))).code).to.equal('VALIDATION_FAILED');
        expect((await rejection(session.cancel('j1', { circuit_number: number, effective_date: '2026-02-30' }))).code).to.equal('VALIDATION_FAILED');
        expect((await rejection(session.cancel('j1', { circuit_number: 'X1' }))).code).to.equal('INVALID_CIRCUIT');
        expect((await h.control.stats()).requests).to.equal(before);
      });

      it('reports a portal refusal (past date) as CANCELLATION_REFUSED with evidence', async () => {
        const { number } = circuitFor('16', 8);
        const session = await h.session();
        const error = await rejection(session.cancel('j3', { circuit_number: number, effective_date: '2020-01-01' }));
        expect(error.code).to.equal('CANCELLATION_REFUSED');
        expect(error.retryable).to.equal(false);
        const evidence = errorEvidence(error);
        expect(evidenceLabels(evidence)).to.deep.equal(['filled-form', 'failed']);
        expect(evidence[1]!.name).to.match(/^failed-\d{8}T\d{9}Z\.png$/);
        await h.stored(evidence[1]!);
        const record = await h.failureRecord(evidence);
        expect(record).to.include({ code: 'CANCELLATION_REFUSED', step: 'failed' });
        // Same moment as the screenshot beside it.
        expect(evidence.find((i) => i.contentType === 'application/json')!.name).to.equal(evidence[1]!.name.replace(/\.png$/, '.json'));
        expect((await h.control.stats()).cancellations).to.deep.equal({});
      });
    });

    describe('submit hooks', () => {
      it('calls beforeSubmit once, after the read and the filled form, and afterSubmit with the confirmed reference', async () => {
        const { number } = circuitFor('24', 6);
        const session = await h.session();
        const calls: unknown[] = [];
        const { result } = await session.cancel('j1', { circuit_number: number }, {
          beforeSubmit: async (circuit) => {
            // Nothing is submitted yet when the caller is asked.
            calls.push(['before', circuit, (await h.control.stats()).cancellations[number] ?? 0]);
            return 'submit';
          },
          afterSubmit: async (outcome, reference) => void calls.push(['after', outcome, reference]),
        });
        expect(result).to.deep.equal({ found: true, circuit_number: number, cancelled: true, already_cancelled: false, reference: `${prefix}-CAN-000001` });
        expect(calls).to.deep.equal([['before', number, 0], ['after', 'confirmed', `${prefix}-CAN-000001`]]);
      });

      it('asks nothing for a circuit that is not cancellable', async () => {
        const { number } = circuitFor('19', 6);
        const session = await h.session();
        const calls: string[] = [];
        const { result } = await session.cancel('j1', { circuit_number: number }, {
          beforeSubmit: async () => {
            calls.push('before');
            return 'submit';
          },
          afterSubmit: async (outcome) => void calls.push(outcome),
        });
        expect(result).to.include({ cancelled: true, already_cancelled: true });
        expect(calls).to.deep.equal([]);
      });

      it('stops before the submission on a dry run: form filled, nothing cancelled on the portal', async () => {
        const { number } = circuitFor('25', 6);
        const session = await h.session();
        const { result, evidence } = await session.cancel('j1', { circuit_number: number }, { beforeSubmit: async () => 'dry-run' });
        expect(result).to.deep.equal({ found: true, circuit_number: number, cancelled: false, already_cancelled: false, reference: null, dry_run: true });
        expect(evidenceLabels(evidence)).to.deep.equal(['filled-form']);
        const stats = await h.control.stats();
        expect(stats.cancellations).to.deep.equal({});
        expect(stats.duplicate_cancel_attempts).to.equal(0);
        expect((await session.validate('j2', number)).result).to.include({ status: 'active' });
      });

      it('submits nothing when beforeSubmit throws (the caller\'s fencing)', async () => {
        const { number } = circuitFor('26', 6);
        const session = await h.session();
        const fenced = new Error('fenced: another worker owns this job');
        const thrown = await session.cancel('j1', { circuit_number: number }, { beforeSubmit: async () => Promise.reject(fenced) }).then(
          () => expect.fail('expected the cancellation to fail'),
          (error: unknown) => error,
        );
        expect((thrown as Error).message).to.contain('fenced');
        expect((await h.control.stats()).cancellations).to.deep.equal({});
      });

      for (const as of ['reset', '503'] as const) {
        it(`reads the circuit after a lost answer (${as}) instead of submitting again: one cancellation, its reference`, async () => {
          const { number } = circuitFor('28', as === 'reset' ? 6 : 7);
          const session = await h.session({ retry: { attempts: 8, baseDelayMs: 20, maxDelayMs: 50 } });
          await session.login();
          await h.control.loseCancelAnswers(1, as);
          const calls: unknown[] = [];
          const { result, evidence } = await session.cancel('j1', { circuit_number: number }, {
            beforeSubmit: async () => {
              calls.push('before');
              return 'submit';
            },
            afterSubmit: async (outcome, reference) => void calls.push([outcome, reference]),
          });
          // This job's submission did it: cancelled, not "already cancelled".
          expect(result).to.deep.equal({ found: true, circuit_number: number, cancelled: true, already_cancelled: false, reference: `${prefix}-CAN-000001` });
          expect(calls).to.deep.equal(['before', ['unclear', null], ['resolved-by-read', `${prefix}-CAN-000001`]]);
          expect(evidenceLabels(evidence)).to.deep.equal(['filled-form', 'confirmation']);
          const stats = await h.control.stats();
          expect(stats.cancellations).to.deep.equal({ [number]: 1 });
          expect(stats.duplicate_cancel_attempts).to.equal(0);
        });
      }

      it('submits again only when the read after a lost answer finds the circuit still cancellable', async () => {
        const { number } = circuitFor('32', 7);
        const session = await h.session({ retry: { attempts: 8, baseDelayMs: 20, maxDelayMs: 50 } });
        await session.login();
        let before = 0;
        // The answer to the first submission is lost before the portal processes it (a 503 in front of it).
        await h.contexts[h.contexts.length - 1].route(
          (url) => url.toString().includes('cancel'),
          async (route) => {
            if (route.request().method() === 'POST' && before === 1) {
              before++;
              await route.fulfill({ status: 503, contentType: route.request().url().includes('/api/') ? 'application/json' : 'text/html', body: '{"error":"Service temporarily unavailable"}' });
              return;
            }
            await route.continue();
          },
        );
        const calls: unknown[] = [];
        const { result } = await session.cancel('j1', { circuit_number: number }, {
          beforeSubmit: async () => {
            before++;
            calls.push('before');
            return 'submit';
          },
          afterSubmit: async (outcome, reference) => void calls.push([outcome, reference]),
        });
        expect(result).to.deep.equal({ found: true, circuit_number: number, cancelled: true, already_cancelled: false, reference: `${prefix}-CAN-000001` });
        expect(calls).to.deep.equal(['before', ['unclear', null], 'before', ['confirmed', `${prefix}-CAN-000001`]]);
        const stats = await h.control.stats();
        expect(stats.cancellations).to.deep.equal({ [number]: 1 });
        expect(stats.duplicate_cancel_attempts).to.equal(0);
      });
    });

    describe('contract canary and drift', () => {
      const quick = { timeouts: { actionMs: 1_500, navigationMs: 6_000 } };

      it('checkContract passes on the portal as SPEC.md fixes it, with no side effect', async () => {
        const session = await h.session();
        await session.checkContract();
        const stats = await h.control.stats();
        expect(stats.cancellations).to.deep.equal({});
        expect(stats.duplicate_cancel_attempts).to.equal(0);
        expect(stats.logins_ok).to.equal(1);
      });

      it('checkContract fails on a drifted portal (login still works) with the selector and a secret-free DOM snippet', async () => {
        await h.control.configure({ drift: true });
        const session = await h.session(quick);
        await session.login();
        const error = await rejection(session.checkContract());
        expect(error.code).to.equal('PAGE_CONTRACT_MISMATCH');
        expect(error.retryable).to.equal(false);
        expect(error.details?.selector).to.be.a('string').and.not.equal('');
        const snippet = error.details?.dom_snippet as string;
        expect(snippet).to.be.a('string').and.not.equal('');
        expect(Buffer.byteLength(snippet)).to.be.at.most(2048);
        expect(snippet).to.not.contain(d.practiceAccount.password);
        expect(evidenceLabels(errorEvidence(error))).to.deep.equal(['failed']);
        // The contract check belongs to no job: its evidence is the batch's.
        expect(errorEvidence(error)[0]!.key).to.match(/^batches\/batch-\d+\/failed-/);
        await h.control.configure({ drift: false });
        await session.checkContract();
        expect(session.loginCount).to.equal(1);
      });

      it('a job on a drifted portal fails with PAGE_CONTRACT_MISMATCH naming the selector, with evidence of the page', async () => {
        const { number } = circuitFor('31', 2);
        await h.control.configure({ drift: true });
        const session = await h.session(quick);
        const error = await rejection(session.validate('j5', number));
        expect(error.code).to.equal('PAGE_CONTRACT_MISMATCH');
        expect(error.details?.selector).to.be.a('string').and.not.equal('');
        expect(Buffer.byteLength(error.details?.dom_snippet as string)).to.be.within(1, 2048);
        const evidence = errorEvidence(error);
        expect(evidenceLabels(evidence)).to.deep.equal(['failed']);
        await h.stored(evidence[0]!);
        // Beside the page: the selector that did not match and the DOM snippet, as the error has them.
        const record = await h.failureRecord(evidence);
        expect(record).to.include({ code: 'PAGE_CONTRACT_MISMATCH', selector: error.details?.selector, dom_snippet: error.details?.dom_snippet });
        expect(record.page).to.be.a('string').and.match(/^\//);
        const cancel = await rejection(session.cancel('j6', { circuit_number: number }));
        expect(cancel.code).to.equal('PAGE_CONTRACT_MISMATCH');
        expect((await h.control.stats()).cancellations).to.deep.equal({});
      });
    });

    describe('sessions and faults', () => {
      it('logs in again once when the session expired between jobs', async () => {
        const { number } = circuitFor('21', 9);
        await h.control.configure({ session_idle_s: 1 });
        const session = await h.session();
        const first = await session.validate('j1', number);
        expect(first.result.found).to.equal(true);
        // Let the portal's idle timeout (1 s) pass: this waits on the portal, not on the page.
        await delay(1_600);
        const second = await session.validate('j2', number);
        expect(second.result).to.deep.equal(first.result);
        expect(session.loginCount).to.equal(2);
        expect((await h.control.stats()).logins_ok).to.equal(2);
      });

      it('keeps a cancellation safe across a session expiry', async () => {
        const { number } = circuitFor('23', 9);
        // 3 s, not 1: the filled form's screenshot comes between two requests, and on a loaded
        // machine it alone can outlast a 1 s idle timeout (the retry would then expire too).
        await h.control.configure({ session_idle_s: 3 });
        const session = await h.session();
        await session.login();
        await delay(3_600);
        const { result } = await session.cancel('j1', { circuit_number: number });
        expect(result).to.include({ cancelled: true, already_cancelled: false, reference: `${prefix}-CAN-000001` });
        expect(session.loginCount).to.equal(2);
        expect((await h.control.stats()).cancellations).to.deep.equal({ [number]: 1 });
      });

      it('retries while the portal answers 503, then succeeds', async () => {
        const { digits, number } = circuitFor('34', 9);
        const session = await h.session({ retry: { attempts: 40, baseDelayMs: 50, maxDelayMs: 200 } });
        await session.login();
        await h.control.configure({ error_rate: 1 });
        const pending = session.validate('j1', number);
        await untilErrorsInjected(h.control, 3);
        await h.control.configure({ error_rate: 0 });
        const { result } = await pending;
        expect(result).to.deep.equal({ found: true, circuit_number: number, status: 'active', ...derived(digits), cancellation_reference: null });
        expect(session.loginCount).to.equal(1);
      });

      it('cancels each circuit once through a flaky portal (error_rate 0.5)', async () => {
        const numbers = ['35', '45', '55'].map((tail) => circuitFor(tail, 9).number);
        // An attempt needs every one of its 3-4 requests answered: about 1 in 8-16 succeeds at 0.5,
        // so 30 attempts lost a circuit about 1 run in 20. 150 make that vanishingly rare.
        const session = await h.session({ retry: { attempts: 150, baseDelayMs: 20, maxDelayMs: 100 } });
        await session.login();
        await h.control.configure({ error_rate: 0.5 });
        const references: Array<string | null> = [];
        for (const [i, number] of numbers.entries()) {
          const { result } = await session.cancel(`j${i}`, { circuit_number: number });
          expect(result).to.include({ found: true, cancelled: true, already_cancelled: false });
          references.push(result.reference);
        }
        await h.control.configure({ error_rate: 0 });
        expect(references).to.have.members([`${prefix}-CAN-000001`, `${prefix}-CAN-000002`, `${prefix}-CAN-000003`]);
        const stats = await h.control.stats();
        expect(stats.cancellations).to.deep.equal(Object.fromEntries(numbers.map((n) => [n, 1])));
        expect(stats.duplicate_cancel_attempts).to.equal(0);
        // Each cancellation takes at least three requests: with 0.5 the chance of no 503 at all is below 1/500.
        expect(stats.errors_injected).to.be.greaterThan(0);
      });

      it('fails with PORTAL_UNAVAILABLE (retryable) when the portal stays down', async () => {
        const { number } = circuitFor('36', 9);
        const session = await h.session({ retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 20 } });
        await session.login();
        await h.control.configure({ error_rate: 1 });
        const error = await rejection(session.validate('j9', number));
        expect(error.code).to.equal('PORTAL_UNAVAILABLE');
        expect(error.retryable).to.equal(true);
        expect(error.message).to.contain('3 attempts');
        expect(evidenceLabels(errorEvidence(error))).to.deep.equal(['failed']);
        expect((await h.failureRecord(errorEvidence(error))).code).to.equal('PORTAL_UNAVAILABLE');
        expect((await h.control.stats()).errors_injected).to.be.at.least(3);
      });

      it('fails a wrong password with LOGIN_REFUSED that names no secret', async () => {
        const wrong = 'Wrong-Secret-Password-42';
        const session = await h.session({ credentials: { login: d.practiceAccount.login, password: wrong } });
        const error = await rejection(session.validate('j1', circuitFor('21', 1).number));
        expect(error.code).to.equal('LOGIN_REFUSED');
        expect(error.retryable).to.equal(false);
        expect(error.message).to.match(/refused the (login|sign-in)/);
        expect(error.message).to.not.contain(wrong);
        expect(JSON.stringify(error.details)).to.not.contain(wrong);
        for (const item of errorEvidence(error)) {
          expect(item.name).to.not.contain(wrong);
          expect((await h.stored(item)).toString('latin1')).to.not.contain(wrong);
        }
        const stats = await h.control.stats();
        expect(stats.logins_failed).to.equal(1);
        expect(stats.logins_ok).to.equal(0);
        expect(session.loginCount).to.equal(0);
      });

      it('reports "Too many active sessions" as TOO_MANY_SESSIONS (retryable)', async () => {
        await h.control.configure({ max_sessions: 1 });
        const first = await h.session();
        await first.login();
        const second = await h.session();
        const error = await rejection(second.login());
        expect(error.code).to.equal('TOO_MANY_SESSIONS');
        expect(error.retryable).to.equal(true);
      });

      it('logs out on close and frees the portal slot', async () => {
        const session = await h.session();
        await session.login();
        expect((await h.control.stats()).active_sessions).to.equal(1);
        await session.close();
        expect((await h.control.stats()).active_sessions).to.equal(0);
        await session.close();
      });
    });

    extra?.(h);
  });
}

