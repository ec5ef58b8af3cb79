import { RpaError } from '../errors.js';
import type { TotpLease, TotpManager, TotpOutcome } from './totp-manager.js';

/** The TOTP callbacks of ProviderSessionContext (src/providers/provider.ts) for one account. */
export interface TotpHooks {
  /** Acquires a lease just in time and returns its code; call it when the code is typed. */
  getTotp(): Promise<string>;
  /** Reports the portal's answer to the code last returned by getTotp (idempotent per code). */
  reportTotp(outcome: TotpOutcome): Promise<void>;
  /** The steps handed out through these hooks, in order (for logs and tests). */
  readonly steps: readonly number[];
}

/**
 * Binds a TotpManager to one provider account for a provider session. Every getTotp call
 * is a fresh lease (a login that retries after a refusal gets a new step).
 */
export function createTotpHooks(
  manager: TotpManager,
  account: { provider: string; account: string; secret: string; signal?: AbortSignal },
): TotpHooks {
  let last: TotpLease | undefined;
  const steps: number[] = [];
  return {
    async getTotp() {
      const lease = await manager.acquire(account);
      last = lease;
      steps.push(lease.step);
      return lease.code;
    },
    async reportTotp(outcome) {
      if (!last) throw new RpaError('INTERNAL', 'reportTotp called before getTotp');
      await last.report(outcome);
    },
    steps,
  };
}
