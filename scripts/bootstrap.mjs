#!/usr/bin/env node
// The quick start's set-up, in plain Node (it runs before any dependency is installed):
// installs npm dependencies and the system packages the embedded defaults need, builds,
// then runs the system (`start`), the test suite (`test`) or nothing more (`build`).
// Every step is safe to interrupt: the next run sees what did not finish and does it again.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// A Ctrl-C reaches every process of the terminal's group: let the step in hand (npm ci,
// apt-get, tsc, the system) finish its own clean-up, then stop (see run()).
process.on('SIGINT', () => undefined);
const mode = process.argv[2] ?? 'build';
const env = { ...process.env, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1' };

function run(cmd, args, opts = {}) {
  const result = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env, ...opts });
  if (result.error) {
    console.error(`bootstrap: could not run ${cmd} (${result.error.code ?? result.error.message})`);
    process.exit(1);
  }
  // Interrupted (Ctrl-C): stop here; the next run picks up where this one was cut short.
  if (result.signal) process.exit(128 + (result.signal === 'SIGINT' ? 2 : 15));
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
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  return names.some((n) => dirs.some((d) => {
    try { accessSync(join(d, n), constants.X_OK); return true; } catch { return false; }
  }));
}
/** Deletes the .js files (and maps) under dist/ whose .ts source no longer exists. */
function removeOrphanOutput(dir) {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) removeOrphanOutput(path);
    else if (/\.js(\.map)?$/.test(entry.name)) {
      const source = join(root, relative(join(root, 'dist'), path).replace(/\.js(\.map)?$/, '.ts'));
      if (!existsSync(source)) rmSync(path, { force: true });
    }
  }
}
const digest = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');

// 1. npm dependencies, unless the last complete install was of this very lock file.
const installStamp = join(root, 'node_modules', '.rpa-installed');
const lockDigest = digest(join(root, 'package-lock.json'));
if (!existsSync(installStamp) || readFileSync(installStamp, 'utf8').trim() !== lockDigest) {
  console.error('bootstrap: installing npm dependencies (npm ci)');
  must('npm', ['ci', '--no-audit', '--no-fund'], 'npm ci');
  writeFileSync(installStamp, `${lockDigest}\n`);
}

// 2. System packages for the embedded defaults (a Valkey-protocol server, Chromium) and the tests.
const wanted = [];
if (!process.env.VALKEY_URL && !onPath('valkey-server', 'redis-server')) wanted.push('redis-server');
if (!process.env.CHROMIUM_PATH && !onPath('chromium', 'chromium-browser', 'google-chrome')) wanted.push('chromium');
// The monitoring tests run promtool and a Prometheus of their own (test/monitoring).
if (mode === 'test' && !(onPath('prometheus') && onPath('promtool'))) wanted.push('prometheus');
if (wanted.length > 0) {
  const isRoot = process.getuid?.() === 0;
  if (isRoot && onPath('apt-get')) {
    console.error(`bootstrap: installing ${wanted.join(' ')} with apt-get`);
    const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
    // Debian's prometheus (and redis-server) packages start a system service on install unless
    // policy-rc.d says no: the tests start their own servers, so no service may be started.
    const policy = '/usr/sbin/policy-rc.d';
    const ownPolicy = !existsSync(policy);
    if (ownPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
    const install = () => run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...wanted], { env: aptEnv });
    let status;
    try {
      run('apt-get', ['update', '-qq'], { env: aptEnv });
      status = install();
      if (status !== 0) {
        // An earlier install cut short leaves dpkg half-configured; finish it and try once more.
        run('dpkg', ['--configure', '-a'], { env: aptEnv });
        status = install();
      }
    } finally {
      if (ownPolicy) rmSync(policy, { force: true });
    }
    if (status !== 0) {
      console.error(`bootstrap: apt-get install ${wanted.join(' ')} failed; install them by hand`);
      process.exit(1);
    }
    // The package also enables its unit for the next boot; the tests never want it running.
    if (wanted.includes('prometheus') && onPath('systemctl')) run('systemctl', ['disable', '--quiet', 'prometheus'], { env: aptEnv });
  } else {
    console.error(
      `bootstrap: missing ${wanted.join(' and ')}: install ${wanted.length > 1 ? 'them' : 'it'} (Debian/Ubuntu: sudo apt-get install ${wanted.join(' ')}),` +
        ' or point VALKEY_URL at your own Valkey and CHROMIUM_PATH at your own Chromium.',
    );
    process.exit(1);
  }
}

// 3. Build (incremental). A build cut short may have left its incremental state newer than
//    the files it wrote: without the stamp of a finished build, build everything again. Output
//    of a source that is gone (deleted, moved, another branch) is removed: mocha would run it.
const buildStamp = join(root, 'dist', '.rpa-built');
removeOrphanOutput(join(root, 'dist'));
if (!existsSync(buildStamp)) rmSync(join(root, 'dist', '.tsbuildinfo'), { force: true });
rmSync(buildStamp, { force: true });
must(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], 'TypeScript build');
writeFileSync(buildStamp, `${new Date().toISOString()}\n`);

// 4. Run, as a child that owns its signals: a Ctrl-C reaches it from the terminal; a SIGTERM
//    sent to us is passed on; we wait for it to finish its shutdown and exit with its code.
const command =
  mode === 'start'
    ? ['--enable-source-maps', join(root, 'dist', 'src', 'main.js')]
    : mode === 'test'
      ? ['--enable-source-maps', join(root, 'node_modules', 'mocha', 'bin', 'mocha.js'), ...process.argv.slice(3)]
      : undefined;
if (mode === 'test' && !env.MOCHA_SPEC && process.argv.length <= 3 && Number(env.TEST_SHARDS ?? 2) > 1) {
  // The whole suite: in shards that run at once (scripts/test-shards.mjs).
  const { runShards } = await import('./test-shards.mjs');
  process.exit(await runShards({ root, env, shards: Number(env.TEST_SHARDS ?? 2) }));
} else if (command) {
  const child = spawn(process.execPath, command, { cwd: root, stdio: 'inherit', env });
  for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + (signal === 'SIGINT' ? 2 : 15) : 1)));
}
