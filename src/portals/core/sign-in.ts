import type { Response } from 'express';
import { clearCookie, setCookie } from './cookies.js';
import type { PortalState } from './portal-state.js';

/**
 * The last step of every portal's login, once credentials (and any second factor) are accepted:
 * a new session counted in `logins_ok`, the portal's single-sign-on delay (`login_delay_ms`),
 * the session cookie in place of any pre-auth cookie, and the redirect to the start page.
 */
export async function completeSignIn(
  state: PortalState,
  res: Response,
  login: string,
  cookies: { session: string; preAuth?: string },
  startPage: string,
): Promise<void> {
  const session = state.sessions.create(login);
  state.stats.logins_ok++;
  await state.loginDelay();
  if (cookies.preAuth) clearCookie(res, cookies.preAuth);
  setCookie(res, cookies.session, session.id);
  res.redirect(302, startPage);
}
