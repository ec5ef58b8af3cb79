import { RpaError } from '../errors/failures.js';
import type { TotpAcquireRequest, TotpLease, TotpManager, TotpOutcome, TotpReservation } from './totp-manager.js';

/** How long before its step a prepared login is let go by default: room for a password step. */
export const DEFAULT_PREPARE_LEAD_MS = 10_000;

/** The TOTP callbacks of ProviderSessionContext (src/providers/provider.ts) for one account. */
export interface TotpHooks {
  /**
   * Returns a code just in time; call it when the code is typed. Takes the step reserved by
   * `prepare()` if there is one, else acquires a fresh step (waiting for it if need be).
   */
  getTotp(): Promise<string>;
  /** Reports the portal's answer to the code last returned by getTotp (idempotent per code). */
  reportTotp(outcome: TotpOutcome): Promise<void>;
  /**
   * Optional, before the login starts: reserves this login's step now (its place in the
   * queue) and resolves `leadMs` before the step may be used. Starting the login only then
   * keeps a portal's pre-auth (Octotel's lives 120 s) from ageing out while the login waits
   * for a step several steps away. A current step is reserved only if it still has
   * `minRemainingMs` left after `leadMs`: a login let go at once has the same room for its
   * password step (without it, a slow password step met the step's end, and the next free step
   * could be minutes away, past the pre-auth). The code itself is still computed only in getTotp.
   */
  prepare(options?: { leadMs?: number }): Promise<void>;
  /** Gives back a prepared step getTotp did not take (the login failed before its code). */
  release(): Promise<void>;
  /** The steps handed out through these hooks, in order (for logs and tests). */
  readonly steps: readonly number[];
}

/**
 * Binds a TotpManager to one provider account for a provider session. Every getTotp call
 * is a fresh step (a login that retries after a refusal gets a new one).
 */
export function createTotpHooks(manager: TotpManager, account: TotpAcquireRequest): TotpHooks {
  let last: TotpLease | undefined;
  let prepared: TotpReservation | undefined;
  const steps: number[] = [];
  return {
    async getTotp() {
      const reservation = prepared ?? (await manager.reserve(account));
      prepared = undefined;
      const lease = await reservation.take();
      last = lease;
      steps.push(lease.step);
      return lease.code;
    },
    async reportTotp(outcome) {
      if (!last) throw new RpaError('INTERNAL', 'reportTotp called before getTotp');
      await last.report(outcome);
    },
    async prepare(options = {}) {
      const leadMs = options.leadMs ?? DEFAULT_PREPARE_LEAD_MS;
      // The login starts at once on a current step: it needs the lead's room before that step ends too.
      prepared ??= await manager.reserve({ ...account, leadMs });
      await prepared.ready(leadMs);
    },
    async release() {
      const reservation = prepared;
      prepared = undefined;
      await reservation?.release();
    },
    steps,
  };
}
