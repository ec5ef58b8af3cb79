import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { RpaError } from '../errors/failures.js';
import { join } from 'node:path';
import type { Logger } from '../logger.js';
import { canAccess, SYSTEM_STATE_DIR, type PostgresInstall } from './postgres-install.js';
import { isAlive } from './stale-process.js';

const CLUSTERS_DIR = join(SYSTEM_STATE_DIR, 'clusters');

/**
 * Where the files of the cluster kept under `dir` (a data folder's `postgres/`) live. Beside
 * it, `<dir>/pgdata`, when the server's account can reach that folder; as root in a private
 * folder it cannot, and the cluster lives in /var/lib/rpa-orchestrator/clusters/<id>
 * (0700, owned by postgres) with `<dir>/cluster-id` naming it and `<dir>/pgdata` a symlink to
 * it for people. Each data folder has its own id, so two clones never share a cluster.
 */
export function clusterDataDir(dir: string, install: PostgresInstall, logger: Logger): string {
  // 0755: the server's account must traverse it to reach pgdata (0700) beside the password file (0600).
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const runAs = install.runAs;
  const inPlace = join(dir, 'pgdata');
  if (!runAs || canAccess(runAs, dir, '-x')) {
    if (runAs && !existsSync(inPlace)) {
      mkdirSync(inPlace, { mode: 0o700 });
      chownSync(inPlace, runAs.uid, runAs.gid);
    }
    if (lstatSync(inPlace, { throwIfNoEntry: false })?.isSymbolicLink()) return realpathSync(inPlace);
    return inPlace;
  }
  const idFile = join(dir, 'cluster-id');
  if (!existsSync(idFile)) writeFileSync(idFile, `${randomBytes(8).toString('hex')}\n`, { mode: 0o600 });
  const id = readFileSync(idFile, 'utf8').trim();
  const home = join(CLUSTERS_DIR, id);
  const data = join(home, 'pgdata');
  mkdirSync(CLUSTERS_DIR, { recursive: true, mode: 0o711 });
  chmodSync(SYSTEM_STATE_DIR, 0o755);
  if (!existsSync(home)) {
    mkdirSync(home, { mode: 0o700 });
    chownSync(home, runAs.uid, runAs.gid);
  }
  writeFileSync(join(home, 'owner'), `${realpathSync(dir)}\n`);
  const here = lstatSync(inPlace, { throwIfNoEntry: false });
  // A cluster made here while the folder was still reachable moves, whole, to where it can be run.
  if (here?.isDirectory() && !existsSync(data)) moveDir(inPlace, data);
  else if (here?.isDirectory()) throw new RpaError('STARTUP_FAILED', `two Postgres clusters claim ${dir}: ${inPlace} and ${data}; move one away`);
  if (!lstatSync(inPlace, { throwIfNoEntry: false })) symlinkSync(data, inPlace);
  logger.debug({ component: 'embedded-postgres', data }, 'the postgres account cannot reach the data folder; its cluster lives under /var/lib');
  removeOrphanClusters(logger);
  return data;
}

function moveDir(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    // Another file system: `cp -a` keeps the postgres account's ownership and the modes.
    const copied = spawnSync('cp', ['-a', from, to], { encoding: 'utf8' });
    if (copied.status !== 0) throw new RpaError('STARTUP_FAILED', `could not move ${from} to ${to}: ${copied.stderr.trim()}`);
    rmSync(from, { recursive: true, force: true });
  }
}

/** Clusters whose data folder was deleted (`rm -rf data/`, a removed clone) and that no server runs. */
export function removeOrphanClusters(logger: Logger): void {
  let ids: string[];
  try {
    ids = readdirSync(CLUSTERS_DIR);
  } catch {
    return;
  }
  for (const id of ids) {
    const home = join(CLUSTERS_DIR, id);
    try {
      const owner = readFileSync(join(home, 'owner'), 'utf8').trim();
      const claimed = existsSync(join(owner, 'cluster-id')) && readFileSync(join(owner, 'cluster-id'), 'utf8').trim() === id;
      if (claimed) continue;
      const pid = Number.parseInt(readFileSync(join(home, 'pgdata', 'postmaster.pid'), 'utf8').split('\n')[0] ?? '', 10);
      if (Number.isInteger(pid) && isAlive(pid)) continue;
    } catch {
      // no owner file (a half-made cluster) or no pid file (not running): an orphan
    }
    rmSync(home, { recursive: true, force: true });
    logger.info({ component: 'embedded-postgres', cluster: id }, 'removed the Postgres cluster of a data folder that no longer exists');
  }
}

/** Deletes the cluster a data folder's `postgres/` uses, wherever it lives (rpa reset). */
export function removeCluster(dir: string): void {
  const idFile = join(dir, 'cluster-id');
  if (existsSync(idFile)) rmSync(join(CLUSTERS_DIR, readFileSync(idFile, 'utf8').trim()), { recursive: true, force: true });
  if (lstatSync(join(dir, 'pgdata'), { throwIfNoEntry: false })?.isSymbolicLink()) unlinkSync(join(dir, 'pgdata'));
}
