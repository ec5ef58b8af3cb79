import { hasScope } from '../errors/failures.js';

/**
 * The login state of one provider session shared by its pages: at most one login runs at a
 * time, and a session found lost is logged into again once, whichever page found it.
 *
 * Every successful login starts a new *generation*. A page notes the generation before its
 * step; when the step finds the session gone it asks for a re-login *of that generation*:
 * the first page to ask starts it, pages asking while it runs wait for it, and a page whose
 * generation is already past (its request was answered for the old session while another page
 * logged in again) just tries again. So N pages finding one expiry cost one login (and, on
 * Octotel, one TOTP step), never N.
 *
 * A login that fails for a `login` or `browser` reason (refused credentials or codes, too many
 * sessions, a dead browser) is final for the session: every later caller gets the same error
 * instead of trying again, and the batch hands its jobs back (or moves to another browser).
 */
export class LoginGate {
  private generationNo = 0;
  private loggedIn = false;
  private inFlight?: Promise<void>;
  private failure?: unknown;

  /** How many logins have succeeded: the generation of the current portal session. */
  get generation(): number {
    return this.generationNo;
  }

  get isLoggedIn(): boolean {
    return this.loggedIn;
  }

  /** Resolves once logged in: runs `login` when nobody has, or waits for the login under way. */
  ready(login: () => Promise<void>): Promise<void> {
    if (this.loggedIn) return Promise.resolve();
    return this.start(login);
  }

  /**
   * The session of generation `seen` was found lost. One re-login serves every page that saw
   * that generation; resolves when the session is usable again.
   */
  relogin(seen: number, login: () => Promise<void>): Promise<void> {
    if (this.inFlight) return this.inFlight;
    if (this.loggedIn && this.generationNo !== seen) return Promise.resolve();
    this.loggedIn = false;
    return this.start(login);
  }

  /** Forget the login (logged out): the next `ready` logs in again. */
  loggedOut(): void {
    this.loggedIn = false;
  }

  private start(login: () => Promise<void>): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    // Assigned before `login` can settle (an async function runs to its first await, and
    // `await login()` always yields), so every caller from here on shares this one login.
    this.inFlight ??= (async () => {
      try {
        await login();
        this.generationNo += 1;
        this.loggedIn = true;
      } catch (thrown) {
        if (hasScope(thrown, 'login') || hasScope(thrown, 'browser')) this.failure = thrown;
        throw thrown;
      } finally {
        this.inFlight = undefined;
      }
    })();
    return this.inFlight;
  }
}
