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
  /**
   * How many pages of one logged-in session may work at once (the default of
   * `<NAME>_PAGES_PER_SESSION`; 1 when left out), and why: what was measured on the practice
   * portal, or what keeps the portal from taking more than one.
   */
  pages?: { perSession: number; why: string };
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
  /** Set when `beforeSubmit` chose a dry run: the form was filled, nothing was submitted. */
  dry_run?: true;
}

/** What `beforeSubmit` lets a cancellation do with its filled form. */
export type SubmitDecision = 'submit' | 'dry-run';

/**
 * How a submitted cancellation ended, as told to `afterSubmit`: the portal's answer showed it
 * (`confirmed`), the answer was lost (`unclear`: a 503, a cut connection or a timeout after
 * the submission), or a read after a lost answer found the circuit cancelled
 * (`resolved-by-read`).
 */
export type SubmitOutcome = 'confirmed' | 'unclear' | 'resolved-by-read';

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
   * Saves a screenshot of the page as evidence (uploaded to the evidence store) and returns its
   * name, or undefined when it could not be taken or stored (a lost screenshot must not undo a
   * portal side effect). Labels carry no secrets: they are part of the name.
   */
  captureEvidence: (label: string) => Promise<string | undefined>;
  /**
   * Called right before the final click or POST of a cancellation, once the circuit was read
   * and found cancellable and the form is filled; called again before any later submission of
   * the same job. It may throw (the caller's fencing): then nothing is submitted. `'dry-run'`
   * stops there: the result says `dry_run: true` and the portal shows no cancellation.
   */
  beforeSubmit?: (circuit: string) => Promise<SubmitDecision>;
  /**
   * Told of each submission's outcome with the reference when known: `confirmed` (the portal's
   * answer, already-cancelled included), `unclear` (the answer was lost; the flow reads the
   * circuit before it may submit again) and then `resolved-by-read` when that read found it
   * cancelled. A refused form (CANCELLATION_REFUSED) is not reported here.
   */
  afterSubmit?: (outcome: SubmitOutcome, reference: string | null) => Promise<void>;
  logger: Logger;
  /** Time limits for page loads and element waits; defaults in provider-timeouts.ts. */
  timeouts?: Partial<ProviderTimeouts>;
  /** How often a portal answering 503 is retried; defaults in portal-retry.ts. */
  retry?: Partial<RetryPolicy>;
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
  /**
   * The contract canary: on a logged-in session, without side effects, checks that the circuit
   * pages still look as SPEC.md fixes them; throws PAGE_CONTRACT_MISMATCH (with the selector and
   * a DOM snippet in its details) when they do not, e.g. before a batch's jobs run.
   */
  checkContract(ctx: ProviderSessionContext): Promise<void>;
  logout(ctx: ProviderSessionContext): Promise<void>;
}

/** A cancellation's submit hooks, as its caller hands them to one job (see ProviderSessionContext). */
export type SubmitHooks = Pick<ProviderSessionContext, 'beforeSubmit' | 'afterSubmit'>;
