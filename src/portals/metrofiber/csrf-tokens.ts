import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * CSRF tokens bound to the page that served them (`login`, `notice`, `cancel:<circuit>`)
 * and, once signed in, to the session: an HMAC over page, session and a nonce, so nothing
 * is stored per token. A new key (on reset) invalidates every token issued before.
 */
export class CsrfTokens {
  private key = randomBytes(32);

  issue(page: string, sessionId = ''): string {
    const nonce = randomBytes(12).toString('hex');
    return `${nonce}.${this.mac(page, sessionId, nonce)}`;
  }

  verify(token: string | undefined, page: string, sessionId = ''): boolean {
    if (!token) return false;
    const [nonce, mac, extra] = token.split('.');
    if (!nonce || !mac || extra !== undefined) return false;
    const expected = Buffer.from(this.mac(page, sessionId, nonce));
    const given = Buffer.from(mac);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  rotate(): void {
    this.key = randomBytes(32);
  }

  private mac(page: string, sessionId: string, nonce: string): string {
    return createHmac('sha256', this.key).update(`${page}\n${sessionId}\n${nonce}`).digest('hex');
  }
}
