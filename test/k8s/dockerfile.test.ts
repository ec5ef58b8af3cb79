import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './support/manifests.js';

/**
 * Base images allowed without a digest, and why. Anything else in a FROM must be a stage of this
 * Dockerfile or carry @sha256:<digest>.
 */
const UNPINNED_EXCEPTIONS: Record<string, string> = {
  'mcr.microsoft.com/playwright:v${PLAYWRIGHT_VERSION}-noble': 'no published digest of v1.65.1-noble could be found without registry access; pin before a production build',
};

/** Every file and folder under `dir` with its mode. */
function walk(dir: string): { path: string; mode: number; dir: boolean }[] {
  const out: { path: string; mode: number; dir: boolean }[] = [{ path: dir, mode: statSync(dir).mode, dir: true }];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path);
    if (st.isDirectory()) out.push(...walk(path));
    else out.push({ path, mode: st.mode, dir: false });
  }
  return out;
}

interface Stage {
  from: string;
  name?: string;
  instructions: { op: string; args: string }[];
}

/** Splits a Dockerfile into stages of instructions (continuation lines joined, comments dropped). */
function parseDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of lines) {
    const [, op = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const upper = op.toUpperCase();
    if (upper === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest)!;
      stages.push({ from: m[1]!, name: m[2], instructions: [] });
    } else if (stages.length === 0 && upper === 'ARG') {
      const [k, v = ''] = rest.split('=');
      args[k!] = v;
    } else {
      stages.at(-1)?.instructions.push({ op: upper, args: rest });
    }
  }
  return { args, stages };
}

/**
 * No Docker engine runs here, so the image is not built in CI: these checks hold the
 * Dockerfile to what the deployment relies on (non-root, no dev dependencies, health check,
 * the Playwright image matching the pinned playwright-core).
 */
describe('Dockerfile', () => {
  const { args, stages } = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
  const stage = (name: string) => stages.find((s) => s.name === name)!;
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };

  it('has the build, prod-deps, runtime and browser stages', () => {
    expect(stages.map((s) => s.name)).to.deep.equal(['build', 'prod-deps', 'runtime', 'browser']);
  });

  it('runs the browser pool on the Playwright image of exactly the pinned playwright-core version', () => {
    const pinned = pkg.dependencies['playwright-core'];
    expect(pinned).to.match(/^\d+\.\d+\.\d+$/, 'playwright-core must be pinned exactly');
    expect(args.PLAYWRIGHT_VERSION).to.equal(pinned);
    expect(stage('browser').from).to.equal('mcr.microsoft.com/playwright:v${PLAYWRIGHT_VERSION}-noble');
    const env = stage('browser').instructions.filter((i) => i.op === 'ENV').map((i) => i.args).join(' ');
    expect(env).to.contain('RPA_ROLES=browser');
    expect(env).to.contain('CHROMIUM_PATH=/usr/local/bin/rpa-chromium');
  });

  for (const name of ['runtime', 'browser']) {
    it(`${name}: non-root, no dev dependencies, a health check, the compiled entry point`, () => {
      const s = stage(name);
      const users = s.instructions.filter((i) => i.op === 'USER');
      expect(users, 'USER').to.have.length.greaterThan(0);
      const [uid, gid] = users.at(-1)!.args.split(':');
      expect(Number(uid), 'numeric non-root uid (runAsNonRoot needs a number)').to.be.greaterThan(0);
      expect(gid, 'group 0, for OpenShift arbitrary UIDs').to.equal('0');
      expect(s.instructions.some((i) => i.op === 'RUN' && /npm (ci|install)/.test(i.args)), 'no npm install in the final image').to.equal(false);
      const copies = s.instructions.filter((i) => i.op === 'COPY').map((i) => i.args);
      expect(copies).to.include('--from=prod-deps /app/node_modules ./node_modules');
      expect(copies.some((c) => c.startsWith('--from=build /app/node_modules')), 'dev dependencies copied').to.equal(false);
      expect(s.instructions.find((i) => i.op === 'HEALTHCHECK')?.args).to.contain('scripts/healthcheck.mjs');
      expect(s.instructions.find((i) => i.op === 'CMD')?.args).to.equal('["node", "--enable-source-maps", "dist/src/main.js"]');
    });
  }

  it('installs only production dependencies for the images and builds with the dev ones', () => {
    expect(stage('prod-deps').instructions.find((i) => i.op === 'RUN')?.args).to.match(/npm ci --omit=dev/);
    expect(stage('build').instructions.some((i) => i.op === 'RUN' && i.args.includes('tsc -p tsconfig.json'))).to.equal(true);
    for (const copy of ['package.json package-lock.json ./', 'src ./src', 'migrations ./migrations']) {
      const path = copy.split(' ')[0]!;
      expect(existsSync(join(ROOT, path)), path).to.equal(true);
    }
  });

  it('keeps the build context small and free of secrets (.dockerignore)', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    expect(ignored).to.include.members(['.git', 'node_modules', 'dist', 'data', '.env']);
    // Whatever the Dockerfile copies from the context must not be ignored.
    for (const path of ['src', 'migrations', 'bin', 'scripts/healthcheck.mjs', 'package.json', 'package-lock.json', 'tsconfig.json']) {
      expect(ignored, path).not.to.include(path);
    }
  });

  it('pins every base image by digest (or names it as a known exception)', () => {
    const stageNames = stages.map((st) => st.name);
    const resolve = (from: string) => from.replace(/^\$\{(\w+)\}$/, (_, name: string) => args[name] ?? '');
    const unpinned = stages
      .map((st) => resolve(st.from))
      .filter((from) => !stageNames.includes(from) && !/@sha256:[0-9a-f]{64}$/.test(from) && !Object.hasOwn(UNPINNED_EXCEPTIONS, from));
    expect(unpinned).to.deep.equal([]);
    expect(args.NODE_IMAGE).to.match(/^node:22-bookworm-slim@sha256:[0-9a-f]{64}$/);
  });

  for (const name of ['runtime', 'browser']) {
    it(`${name}: the code is read-only for the runtime user and its group 0 (OpenShift's arbitrary UID)`, function () {
      const s = stage(name);
      const runs = s.instructions.filter((i) => i.op === 'RUN').map((i) => i.args);
      // `g=u` would give group 0 the owner's (root's) write permission.
      expect(runs.filter((r) => /chmod[^&]*g=u|chmod[^&]*g\+w|chown[^&]*10001/.test(r))).to.deep.equal([]);
      const fix = runs.find((r) => r.includes('chmod -R a=rX /app'));
      expect(fix, 'RUN chown -R 0:0 /app && chmod -R a=rX /app').to.equal('chown -R 0:0 /app && chmod -R a=rX /app');
      expect(s.instructions.filter((i) => i.op === 'COPY').every((i) => !/--chown|--chmod/.test(i.args)), 'COPY without --chown/--chmod').to.equal(true);
      expect(s.instructions.findIndex((i) => i.args === fix)).to.be.greaterThan(s.instructions.map((i) => i.op).lastIndexOf('COPY'));

      // Replay it on a tree like /app whose files came out group-writable, then check the modes
      // (and, as root, that uid 10001 in group 0 can read but not write).
      const root = mkdtempSync(join(tmpdir(), 'rpa-image-app-'));
      try {
        const app = join(root, 'app');
        mkdirSync(join(app, 'dist', 'src'), { recursive: true });
        mkdirSync(join(app, 'node_modules', '.bin'), { recursive: true });
        writeFileSync(join(app, 'dist', 'src', 'main.js'), 'x');
        writeFileSync(join(app, 'node_modules', '.bin', 'tool'), '#!/bin/sh\n');
        chmodSync(join(app, 'node_modules', '.bin', 'tool'), 0o775);
        chmodSync(join(app, 'dist', 'src', 'main.js'), 0o664);
        chmodSync(join(app, 'dist'), 0o775);
        const isRoot = process.getuid?.() === 0;
        const command = (isRoot ? fix! : fix!.replace(/^chown -R 0:0 \/app && /, '')).replaceAll('/app', app);
        const done = spawnSync('sh', ['-c', command], { encoding: 'utf8' });
        expect(done.status, done.stderr).to.equal(0);
        for (const entry of walk(app)) {
          expect(entry.mode & 0o222, `${entry.path} writable`).to.equal(0);
          expect(entry.mode & 0o444, `${entry.path} readable by all`).to.equal(0o444);
          if (entry.dir) expect(entry.mode & 0o111, `${entry.path} traversable`).to.equal(0o111);
        }
        expect(statSync(join(app, 'node_modules', '.bin', 'tool')).mode & 0o111).to.equal(0o111);
        expect(statSync(join(app, 'dist', 'src', 'main.js')).mode & 0o111).to.equal(0);
        if (isRoot) {
          chmodSync(root, 0o755);
          const as = (...cmd: string[]) => spawnSync('setpriv', ['--reuid=10001', '--regid=0', '--clear-groups', ...cmd], { encoding: 'utf8' });
          expect(as('cat', join(app, 'dist', 'src', 'main.js')).stdout).to.equal('x');
          expect(as('sh', '-c', `echo y > ${join(app, 'dist', 'src', 'main.js')}`).status, 'overwrite a file').not.to.equal(0);
          expect(as('touch', join(app, 'dist', 'new.js')).status, 'add a file').not.to.equal(0);
          expect(readFileSync(join(app, 'dist', 'src', 'main.js'), 'utf8')).to.equal('x');
        }
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    });
  }
});
