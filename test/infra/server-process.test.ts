import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/infra/free-port.js';
import { isAlive } from '../../src/infra/stale-process.js';
import { valkeyBinary } from '../support/valkey-node.js';
import { until } from '../support/worker-process.js';

const SERVER_PROCESS = fileURLToPath(new URL('../../src/infra/server-process.js', import.meta.url));

describe('startServerProcess: a server outlives no owner', function () {
  this.timeout(60_000);

  it('stops the server (its own process group) once the process that started it is killed with -9', async () => {
    const port = await freePort();
    // An owner that starts a real redis-server through startServerProcess, says its pid, and waits.
    const owner = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { startServerProcess } = await import(${JSON.stringify(SERVER_PROCESS)});
         const server = await startServerProcess({
           name: 'valkey', command: ${JSON.stringify(valkeyBinary('server'))}, args: ['--port', '${port}', '--bind', '127.0.0.1', '--save', ''], hint: '',
           ready: () => new Promise((resolve) => setTimeout(resolve, 500)),
         });
         console.log('server', server.pid);
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    owner.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await until(async () => /server \d+/.test(out), 20_000, 'the owner to start its server');
    const serverPid = Number(/server (\d+)/.exec(out)![1]);
    expect(isAlive(serverPid), 'the server runs').to.equal(true);

    owner.kill('SIGKILL');
    await once(owner, 'exit');
    await until(async () => !isAlive(serverPid), 20_000, 'the orphaned server to be stopped');
  });
});
