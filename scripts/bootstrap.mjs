#!/usr/bin/env node
// The quick start's set-up, in plain Node (it runs before any dependency is installed):
// installs npm dependencies and the system packages the embedded defaults need, builds,
// then runs the system (`start`), the test suite (`test`) or nothing more (`build`).
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const mode = process.argv[2] ?? 'build';
const env = { ...process.env, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1' };

function run(cmd, args, opts = {}) {
  const result = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env, ...opts });
  if (result.error) throw result.error;
  return result.status ?? 1;
}
function must(cmd, args, what) {
  const status = run(cmd, args);
  if (status !== 0) {
    console.error(`bootstrap: ${what} failed (${cmd} ${args.join(' ')} exited ${status})`);
    process.exit(status);
  }
}
function onPath(...names) {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin', '/usr/local/bin'];
  return names.some((n) => dirs.some((d) => {
    try { accessSync(join(d, n), constants.X_OK); return true; } catch { return false; }
  }));
}
const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0);

// 1. npm dependencies, when missing or older than the lock file.
const stamp = join(root, 'node_modules', '.package-lock.json');
if (!existsSync(stamp) || mtime(join(root, 'package-lock.json')) > mtime(stamp)) {
  console.error('bootstrap: installing npm dependencies (npm ci)');
  must('npm', ['ci', '--no-audit', '--no-fund'], 'npm ci');
}

// 2. System packages for the embedded defaults: a Valkey-protocol server and Chromium.
const missing = [];
if (!process.env.VALKEY_URL && !onPath('valkey-server', 'redis-server')) missing.push('redis-server');
if (!process.env.CHROMIUM_PATH && !['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].some(existsSync)) missing.push('chromium');
// The monitoring tests run promtool and a Prometheus of their own (test/monitoring).
if (mode === 'test' && !(onPath('prometheus') && onPath('promtool'))) missing.push('prometheus');
if (missing.length > 0) {
  const isRoot = process.getuid?.() === 0;
  if (isRoot && onPath('apt-get')) {
    console.error(`bootstrap: installing ${missing.join(' ')} with apt-get`);
    const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
    // Debian's prometheus (and redis-server) packages start a system service on install unless
    // policy-rc.d says no: the tests start their own servers, so no service may be started.
    const policy = '/usr/sbin/policy-rc.d';
    const ownPolicy = !existsSync(policy);
    if (ownPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
    run('apt-get', ['update', '-qq'], { env: aptEnv });
    const status = run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env: aptEnv });
    if (ownPolicy) rmSync(policy, { force: true });
    // The package also enables its unit for the next boot; the tests never want it running.
    if (status === 0 && missing.includes('prometheus') && onPath('systemctl')) run('systemctl', ['disable', '--quiet', 'prometheus'], { env: aptEnv });
    if (status !== 0) {
      console.error(`bootstrap: apt-get install ${missing.join(' ')} failed; install them by hand`);
      process.exit(1);
    }
  } else {
    console.error(
      `bootstrap: missing ${missing.join(' and ')}. Install them (Debian/Ubuntu: sudo apt-get install ${missing.join(' ')}),` +
        ' or point VALKEY_URL / CHROMIUM_PATH at your own.',
    );
    process.exit(1);
  }
}

// 3. Build (incremental).
must(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], 'TypeScript build');

// 4. Run.
if (mode === 'start') {
  process.exitCode = run(process.execPath, ['--enable-source-maps', join(root, 'dist', 'src', 'main.js')], { stdio: 'inherit' });
} else if (mode === 'test') {
  process.exitCode = run(process.execPath, ['--enable-source-maps', join(root, 'node_modules', 'mocha', 'bin', 'mocha.js'), ...process.argv.slice(3)]);
}
