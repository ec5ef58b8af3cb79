import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { freePort } from '../../../src/infra/free-port.js';

export interface ReceivedCallback {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** How the receiver answers one request: a status and optional headers, or never ('hang'). */
export type ReceiverAnswer = { status: number; headers?: Record<string, string> } | 'hang';

/**
 * A real HTTP receiver on 127.0.0.1 standing in for ORDS: it records every request (raw body
 * included) and answers as `answer` says, per request, so tests can script 500, 500, 200.
 */
export class CallbackReceiver {
  readonly received: ReceivedCallback[] = [];
  private answer: (request: ReceivedCallback, index: number) => ReceiverAnswer = () => ({ status: 200 });

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<CallbackReceiver> {
    const port = await freePort();
    let receiver!: CallbackReceiver;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const request = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
        receiver.received.push(request);
        const answer = receiver.answer(request, receiver.received.length - 1);
        if (answer === 'hang') return;
        res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
        res.end(`answered ${answer.status}`);
      });
    });
    receiver = new CallbackReceiver(server, port);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return receiver;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Answers from now on; `index` counts every request this receiver has seen. */
  answerWith(answer: (request: ReceivedCallback, index: number) => ReceiverAnswer): void {
    this.answer = answer;
  }

  requestsTo(path: string): ReceivedCallback[] {
    return this.received.filter((r) => r.path === path);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Polls until `probe` returns a value other than undefined (no fixed sleeps). */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
