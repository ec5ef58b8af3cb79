import { RpaError } from '../../errors/failures.js';
import type { ProviderDescriptor } from '../provider.js';

/**
 * The error for a login step the portal refused: TOO_MANY_SESSIONS for "Too many active
 * sessions" (retryable), LOGIN_REFUSED (not retryable) for anything else. The portal's text
 * is quoted, the credentials never are.
 */
export function loginRefusal(descriptor: ProviderDescriptor, word: string, step: string | undefined, message: string): RpaError {
  if (/too many active sessions/i.test(message)) {
    return new RpaError('TOO_MANY_SESSIONS', `${descriptor.label} refused the ${word}: "Too many active sessions"`);
  }
  const where = step ? ` at the ${step} step` : '';
  const account = descriptor.loginField === 'email' ? 'e-mail' : 'username';
  return new RpaError(
    'LOGIN_REFUSED',
    `${descriptor.label} refused the ${word}${where}: "${message.slice(0, 120)}" (check the account's ${account} and password)`,
  );
}
