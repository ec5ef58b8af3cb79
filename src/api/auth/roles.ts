import type { KeyRole } from '../../db/schema.js';

/**
 * What each role may do. Roles are not a strict ladder: a viewer reads but submits nothing.
 * - `jobs:read` reads jobs; with `jobs:read-all` every job, without it only the jobs the key
 *   itself submitted (a job another key submitted does not exist for it: 404).
 * - `jobs:withdraw` withdraws a pending job it can see; `jobs:operate` is the operators' rest
 *   (schedules, requeue).
 */
export type Permission =
  | 'jobs:submit'
  | 'jobs:read'
  | 'jobs:read-all'
  | 'jobs:withdraw'
  | 'jobs:operate'
  | 'batches:read'
  | 'system:read'
  | 'queues:read'
  | 'queues:write'
  | 'providers:operate'
  | 'keys:manage';

const GRANTS: Record<KeyRole, readonly Permission[]> = {
  submitter: ['jobs:submit', 'jobs:read', 'jobs:withdraw'],
  viewer: ['jobs:read', 'jobs:read-all', 'batches:read', 'system:read', 'queues:read'],
  operator: ['jobs:submit', 'jobs:read', 'jobs:read-all', 'jobs:withdraw', 'jobs:operate', 'batches:read', 'system:read', 'queues:read', 'queues:write', 'providers:operate'],
  admin: ['jobs:submit', 'jobs:read', 'jobs:read-all', 'jobs:withdraw', 'jobs:operate', 'batches:read', 'system:read', 'queues:read', 'queues:write', 'providers:operate', 'keys:manage'],
};

export function can(role: KeyRole, permission: Permission): boolean {
  return GRANTS[role].includes(permission);
}

/** The permissions of a role, for docs and tests. */
export function grantsOf(role: KeyRole): readonly Permission[] {
  return GRANTS[role];
}

/**
 * Whose jobs (and schedules) a key sees: undefined for every one's (roles with jobs:read-all),
 * else its own name, the `jobs.submitted_by` / `schedules.created_by` of what it created.
 */
export function ownerScope(identity: { name: string; role: KeyRole }): string | undefined {
  return can(identity.role, 'jobs:read-all') ? undefined : identity.name;
}
