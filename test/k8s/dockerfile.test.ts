import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './support/manifests.js';

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
});
