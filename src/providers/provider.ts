import type { Page } from 'playwright-core';
import type { Logger } from '../logger.js';
import type { RetryPolicy } from './portal-retry.js';
import type { ProviderTimeouts } from './provider-timeouts.js';

/** What a provider needs to be known by the rest of the system (config, API validation, queues). */
export interface ProviderDescriptor {
  /** Lower-case id used in URLs, queue names, env var prefixes (upper-cased). */
  name: string;
  label: string;
  /** The portal's circuit-number format (SPEC.md). */
  circuitPattern: RegExp;
  /** `<PREFIX>` in references such as `OCT-CAN-000001`. */
  referencePrefix: string;
  /** Which env var names the account's login: `<NAME>_USERNAME` or `<NAME>_EMAIL`. */
  loginField: 'username' | 'email';
  /** Whether the login needs a TOTP second factor (then `<NAME>_TOTP_SECRET` is required). */
  needsTotp: boolean;
  /** Account used when the system runs against its own practice portal. */
  practiceAccount: { login: string; password: string; totpSecret?: string };
}

export interface ProviderCredentials {
  /** Username or e-mail, per the descriptor's loginField. */
  login: string;
  password: string;
}

export type ValidationResult =
  | {
      found: true;
      circuit_number: string;
      status: 'active' | 'pending' | 'suspended' | 'cancelled';
      customer: string;
      address: string;
      speed: string;
      cancellation_reference: string | null;
    }
  | { found: false; circuit_number: string };

export interface CancellationParams {
  circuit_number: string;
  /** customer_request | non_payment | migration | other; default customer_request. */
  reason?: string;
  /** YYYY-MM-DD, default today (the portal's local date). */
  effective_date?: string;
}

export interface CancellationResult {
  found: boolean;
  circuit_number: string;
  cancelled: boolean;
  already_cancelled: boolean;
  reference: string | null;
  /** A rehearsal: the form was filled, nothing was submitted. */
  dry_run?: true;
}

/**
 * What the caller of a cancellation is told around its submit (the batch runner's fencing and
 * intent log, docs/guarantees.md). Both are optional for an automation's callers.
 */
export interface SubmitHooks {
  /**
   * Called right before the final submit, once the circuit was read and found cancellable and
   * the form is filled. `'dry-run'`: stop here, submit nothing. It may throw (the run lost its
   * batch): then nothing is submitted.
   */
  beforeSubmit?: (circuit: string) => Promise<'submit' | 'dry-run'>;
  /**
   * How the submit ended: the portal's answer confirmed it, the answer was lost (`unclear`:
   * the circuit is then read until certain), or a read after an unclear answer settled it.
   */
  afterSubmit?: (outcome: 'confirmed' | 'unclear' | 'resolved-by-read', reference: string | null) => Promise<void>;
}

/**
 * Everything a provider automation is handed for one session. Secrets come in here and
 * never leave: automations must not log them or put them in errors.
 */
export interface ProviderSessionContext {
  page: Page;
  /** The portal's base URL, without a trailing slash. */
  baseUrl: string;
  credentials: ProviderCredentials;
  /**
   * Returns a TOTP code for this login, fetched just in time from the central TOTP manager.
   * Present only for providers whose descriptor says needsTotp. Call it at the moment the
   * code is typed; call `reportTotp` with the portal's answer afterwards.
   */
  getTotp?: () => Promise<string>;
  reportTotp?: (outcome: 'accepted' | 'refused') => Promise<void>;
  /**
   * Saves a screenshot of the page as evidence and returns its path, or undefined when the
   * screenshot could not be taken (a lost screenshot must not undo a portal side effect).
   * Labels carry no secrets.
   */
  captureEvidence: (label: string) => Promise<string | undefined>;
  logger: Logger;
  /** Time limits for page loads and element waits; defaults in provider-timeouts.ts. */
  timeouts?: Partial<ProviderTimeouts>;
  /** How often a portal answering 503 is retried; defaults in portal-retry.ts. */
  retry?: Partial<RetryPolicy>;
  /** A cancellation's submit hooks (see SubmitHooks). */
  beforeSubmit?: SubmitHooks['beforeSubmit'];
  afterSubmit?: SubmitHooks['afterSubmit'];
}

/**
 * One FNO portal's automation. Methods throw RpaError with codes from src/errors.ts:
 * LOGIN_REFUSED, TOO_MANY_SESSIONS, TOTP_REFUSED, SESSION_LOST, PORTAL_UNAVAILABLE,
 * PAGE_CONTRACT_MISMATCH, INVALID_CIRCUIT, CANCELLATION_REFUSED, VALIDATION_FAILED (bad
 * cancellation parameters).
 */
export interface ProviderAutomation {
  readonly descriptor: ProviderDescriptor;
  login(ctx: ProviderSessionContext): Promise<void>;
  /** True when the page shows the portal's expired-session signal. */
  isSessionLost(ctx: ProviderSessionContext): Promise<boolean>;
  validate(ctx: ProviderSessionContext, circuitNumber: string): Promise<ValidationResult>;
  /** Reads the circuit's state first; submits only when it is still cancellable. */
  cancel(ctx: ProviderSessionContext, params: CancellationParams): Promise<CancellationResult>;
  logout(ctx: ProviderSessionContext): Promise<void>;
}
