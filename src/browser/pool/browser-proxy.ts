import type { IncomingMessage, Server } from 'node:http';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { bearerToken, sameSecret } from '../../http/bearer-auth.js';
import type { Logger } from '../../logger.js';
import { BROWSER_BIND_HOST, type PooledBrowser } from './pooled-browser.js';

export interface BrowserProxyOptions {
  /** The pool token every upgrade must carry as `Authorization: Bearer <token>`. */
  token: string;
  /** The browser of an id, if the pool has it. */
  browser: (id: string) => Pick<PooledBrowser, 'state' | 'hasSecret' | 'loopbackTarget'> | undefined;
  logger: Logger;
}

/** What a lease's ws endpoint path looks like on the pool's port. */
const BROWSER_PATH = /^\/browsers\/([^/]+)\/([^/]+)$/;

/** Hop-by-hop and credential headers the proxy does not hand on to the browser's own server. */
const DROPPED_HEADERS = new Set(['authorization', 'host', 'proxy-authorization']);

/**
 * Serves every browser's Playwright WebSocket on the pool's one port: an upgrade of
 * `/browsers/<browser id>/<secret>` that carries the pool token as a bearer header is joined,
 * byte for byte, to that browser's Playwright server on 127.0.0.1. Anything else is refused
 * before a byte reaches a browser: 401 without the token, 404 for an unknown browser or a wrong
 * secret, 503 for a browser that is not serving. The secret never reaches a log line.
 */
export class BrowserProxy {
  private readonly sockets = new Set<Duplex>();
  private readonly log: Logger;

  constructor(private readonly o: BrowserProxyOptions) {
    this.log = o.logger.child({ component: 'browser-proxy' });
  }

  /** Handles the upgrades of `server` (the pool's HTTP server). */
  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
  }

  /** Connections open through the proxy (client side). */
  open(): number {
    return this.sockets.size;
  }

  /** Cuts every proxied connection (the pool is closing; its browsers go next). */
  close(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const presented = bearerToken(req.headers.authorization);
    if (presented === undefined || !sameSecret(presented, this.o.token)) return refuse(socket, 401, 'Unauthorized');
    const path = (req.url ?? '').split('?')[0] ?? '';
    const match = BROWSER_PATH.exec(path);
    const id = match ? safeDecode(match[1]!) : undefined;
    const browser = id === undefined ? undefined : this.o.browser(id);
    if (!match || !browser || !browser.hasSecret(match[2]!)) {
      this.log.debug({ browser_id: id ?? null }, 'browser connection refused: no such browser');
      return refuse(socket, 404, 'Not Found');
    }
    const target = browser.loopbackTarget();
    if (!target || (browser.state !== 'ready' && browser.state !== 'retiring')) return refuse(socket, 503, 'Service Unavailable');

    const upstream = connect(target.port, BROWSER_BIND_HOST);
    let joined = false;
    this.sockets.add(socket);
    const forget = () => {
      this.sockets.delete(socket);
      upstream.destroy();
      socket.destroy();
    };
    socket.once('close', forget);
    upstream.once('close', forget);
    upstream.on('error', (err) => {
      if (!joined) refuse(socket, 502, 'Bad Gateway');
      this.log.debug({ browser_id: id, err: err.message }, 'browser connection ended with an error');
    });
    upstream.once('connect', () => {
      joined = true;
      const lines = [`GET ${target.path} HTTP/1.1`, `Host: ${BROWSER_BIND_HOST}:${target.port}`];
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
        if (!DROPPED_HEADERS.has(req.rawHeaders[i]!.toLowerCase())) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      }
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
  }
}

function refuse(socket: Duplex, status: number, text: string): void {
  const auth = status === 401 ? 'WWW-Authenticate: Bearer\r\n' : '';
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n${auth}\r\n`);
}

function safeDecode(part: string): string | undefined {
  try {
    return decodeURIComponent(part);
  } catch {
    return undefined;
  }
}
