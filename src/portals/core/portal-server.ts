import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RequestListener } from 'node:http';

/** A listening HTTP server and how to stop it. */
export interface ListeningServer {
  url: string;
  close(): Promise<void>;
}

/** Listens on host:port (0 = any free port); url has no trailing slash. */
export async function listen(handler: RequestListener, host: string, port: number): Promise<ListeningServer> {
  const server: Server = createServer(handler);
  // Portals are long-polled by browsers with keep-alive; do not let idle sockets hold close().
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${address.port}`,
    close() {
      closing ??= new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
