import type { Locator } from 'playwright-core';
import type { RpaError } from '../../errors/failures.js';
import type { PageLoad } from '../portal-page.js';
import type { ProviderSessionContext } from '../provider.js';

/**
 * Where a portal's pages are and what they show, as its section of SPEC.md fixes them: the
 * data the shared flow (form-portal-automation.ts) drives a portal with. Paths may hold
 * `{circuit}` (filled URL-encoded) and selectors `{circuit}` (filled as a quoted CSS string).
 */
export interface PortalMap {
  /**
   * Pages that mean "signed out": a load ending on one is a lost session. `path` or
   * `path?key=value`, the given query parameters having to match.
   */
  signInPages: readonly string[];
  login: LoginMap;
  search: SearchMap;
  cancel: CancelMap;
  logout: { method: 'GET' | 'POST'; path: string };
  /**
   * A valid circuit number the contract canary searches for: found or not, the answer's shape
   * is fixed by SPEC.md, and looking at it (and at its cancel form) changes nothing.
   */
  probeCircuit: string;
  hooks?: PortalHooks;
}

export interface LoginMap {
  /** What the portal calls signing in, in messages: "login", "sign-in". */
  word: string;
  steps: readonly LoginStep[];
}

export type LoginStep = FormLoginStep | TotpLoginStep;

/** What shows that a step went through: the page it ends on and/or an element on it. */
export interface Signal {
  path?: string;
  selector?: string;
}

/** A form of the login: fill the credentials, submit, see the next step or the refusal. */
export interface FormLoginStep {
  kind: 'form';
  /** In messages: "the username step". */
  name: string;
  /** Loaded first; without it the step is on the page the previous step led to. */
  open?: string;
  form: string;
  /** Field selector (inside the form) → which credential goes in. */
  fill: Readonly<Record<string, 'login' | 'password'>>;
  submit: string;
  accepted: Signal;
  /** The element that carries the refusal ("Too many active sessions" included). */
  refused: string;
  /** A refusal that only means "load the form again" (a stale form token). */
  retryWhen?: RegExp;
}

/**
 * A TOTP second factor: a fresh code from `ctx.getTotp()` at the moment it is typed, the
 * portal's answer reported through `ctx.reportTotp`, a new code after a refusal.
 */
export interface TotpLoginStep {
  kind: 'totp';
  name: string;
  form: string;
  code: string;
  submit: string;
  accepted: Signal;
  refused: string;
  /** The refusal text of a code whose step was used already (another login took it). */
  reused: RegExp;
  invalid: RegExp;
  /** Where the portal sends the robot once the pre-auth is over (`codes` refusals, or it aged out). */
  restarted: Signal;
  /** Codes tried in one pre-auth: the refusals after which the portal ends it. */
  codes: number;
}

/** A circuit's fields inside one search result, read together in one round trip. */
export interface ResultFields {
  /** The element naming the result's circuit; without it the `result` selector names it. */
  circuit?: string;
  status: string;
  customer: string;
  address: string;
  speed: string;
}

export interface SearchMap {
  /** How a search starts: loading its URL, or typing into the app's search box. */
  open: { path: string } | { page: string; input: string; button: string };
  /** One element per result. */
  result: string;
  fields: ResultFields;
  /** Where a cancelled circuit's reference shows: inside its result, or on a page of its own. */
  reference: { inResult: string } | { page: string; selector: string };
  notFound: string;
  /** The portal's "invalid circuit number"; `text` when the element also carries other errors. */
  invalid?: { selector: string; text?: RegExp };
  /** A failed search rendered with the HTTP status in an attribute (400 invalid, 401, 404, 5xx). */
  failed?: { selector: string; statusAttribute: string };
  /** What the page renders when the session is gone (besides sending the robot to a sign-in page). */
  sessionExpired?: string;
  /** `client`: the page's script renders the outcome after the load (wait up to the navigation budget). */
  rendering: 'server' | 'client';
}

/** An answer to the cancel form that carries a reference. */
export interface CancelAnswer {
  selector: string;
  /** Text the element must contain (several answers may share one element, a toast). */
  hasText?: string;
  /** The element holding the reference inside the answer, or the text it follows. */
  reference: { selector: string } | { after: string };
}

export interface CancelMap {
  /** How the form is reached: its own page, or a control in the circuit's search result. */
  open: { path: string } | { clickInResult: string };
  /** The form, or the dialog holding its fields. */
  form: string;
  reason: string;
  effectiveDate: { selector: string; format: 'YYYY-MM-DD' | 'DD/MM/YYYY' };
  /** Check boxes that must be ticked. */
  tick?: readonly string[];
  /** Fields that must repeat the circuit number. */
  repeatCircuit?: readonly string[];
  /** Field selector → fixed text (e.g. a ticket comment). */
  text?: Readonly<Record<string, string>>;
  submit: string;
  confirmed: CancelAnswer;
  already: CancelAnswer;
  refused: string;
  /** A refusal that only means "load the form again" (a stale form token). */
  retryWhen?: RegExp;
}

/** What the shared flow lends a portal's hooks. */
export interface FlowTools {
  /** The provider's label, for messages. */
  label: string;
  /** SESSION_LOST when the load ended on a sign-in page, a hiccup for a 5xx. */
  expectSession(load: PageLoad): void;
  mismatch(ctx: ProviderSessionContext, what: string, selector: string): Promise<RpaError>;
}

/** The few places where a portal does more than its map says. */
export interface PortalHooks {
  /**
   * Looks at every page the flow lands on; returns true when it was a detour it has dealt with
   * (the flow then loads its page again, or reads the circuit again after a submission). Only a
   * signed-in session is detoured, so a detour after the last login step means signed in.
   */
  detour?(ctx: ProviderSessionContext, load: PageLoad, tools: FlowTools): Promise<boolean>;
  /**
   * Sends the filled cancel form. Default: clicks `submit` and waits for the next document,
   * returning its load. A hook that sends it another way returns undefined once the page shows
   * the answer, and throws PORTAL_HICCUP or PORTAL_UNAVAILABLE when the answer was lost.
   */
  submitCancel?(ctx: ProviderSessionContext, circuit: string, submit: Locator, tools: FlowTools): Promise<PageLoad | undefined>;
}
