import type { Db } from '../db/database.js';
import { findPause, recordProviderEvent, resumeProvider, type ProviderPause } from '../db/provider-store.js';
import { RpaError } from '../errors/failures.js';
import type { CanaryVerdict } from './contract-canary.js';

export interface ResumeRequest {
  provider: string;
  /** Who resumes it (an API key's name, the OS user), kept in the provider's events. */
  actor: string;
  /** Where from: `the CLI`, `the API`. */
  via: string;
  /** Skips the canary of a provider paused for contract drift (the operator vouches for the pages). */
  force?: boolean;
  /** Runs the canary (on a worker) and returns its verdict. */
  canary: (provider: string) => Promise<CanaryVerdict>;
}

export interface ResumeOutcome {
  provider: string;
  resumed: boolean;
  /** The pause that was lifted; undefined when the provider was not paused. */
  was?: { reason: string; since: string; message: string };
  canary?: CanaryVerdict;
}

/**
 * Resumes a paused provider. One paused for contract drift is resumed only when the canary
 * finds its pages matching the contract again (or with `force`); otherwise RESUME_REFUSED says
 * what still does not match, and it stays paused. A provider that was not paused is left as it is.
 */
export async function resumeChecked(db: Db, request: ResumeRequest): Promise<ResumeOutcome> {
  const { provider } = request;
  const pause: ProviderPause | undefined = await findPause(db, provider);
  if (!pause) return { provider, resumed: false };
  const was = { reason: pause.reason, since: pause.since.toISOString(), message: pause.message };
  let canary: CanaryVerdict | undefined;
  if (pause.reason === 'contract_drift' && !request.force) {
    canary = await request.canary(provider);
    if (!canary.ok) {
      await recordProviderEvent(db, provider, 'resume_refused', request.actor, { via: request.via, ...canary });
      throw new RpaError('RESUME_REFUSED', `${provider} stays paused: its pages still do not match the portal contract (${canary.code}: ${canary.message})`, {
        field: 'provider',
        details: { provider, canary },
      });
    }
  }
  const why = request.force ? `resumed from ${request.via} without the canary (force)` : canary ? `resumed from ${request.via}; the canary found the pages matching` : `resumed from ${request.via}`;
  const resumed = await resumeProvider(db, provider, request.actor, why);
  return { provider, resumed, was, ...(canary ? { canary } : {}) };
}
