import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { CallbackTarget } from './callback-url-guard.js';

/** What the receiver answered. Redirects are not followed: a 3xx comes back as it is. */
export interface CallbackResponse {
  status: number;
}

/**
 * POSTs one callback to the address the guard checked. The URL's host stays in the Host header
 * and (for https) in SNI and certificate checks, but the socket goes to `target.address`: the
 * `lookup` we pass answers with it, so no second DNS lookup can send us elsewhere. A fresh
 * connection per request (`agent: false`), so no pooled socket to some other address is reused.
 * Network errors and timeouts reject.
 */
export function sendCallback(target: CallbackTarget, body: string, headers: Record<string, string>, timeoutMs: number): Promise<CallbackResponse> {
  const pinned = ((_hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all) callback(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  }) as unknown as LookupFunction;
  const client = target.url.protocol === 'https:' ? https : http;
  return new Promise<CallbackResponse>((resolve, reject) => {
    const request = client.request(target.url, {
      method: 'POST',
      agent: false,
      lookup: pinned,
      headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) },
      timeout: timeoutMs,
    });
    const timer = setTimeout(() => request.destroy(new Error(`callback timed out after ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
    request.on('timeout', () => request.destroy(new Error(`callback timed out after ${timeoutMs} ms`)));
    request.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      // The answer's body is of no use; drain it so the connection ends cleanly.
      response.resume();
      response.on('error', () => undefined);
      response.on('close', () => clearTimeout(timer));
      resolve({ status });
    });
    request.end(body);
  });
}
