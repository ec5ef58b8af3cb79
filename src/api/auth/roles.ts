import type { KeyRole } from '../../db/schema.js';

/** What each role may do. Roles are not a strict ladder: a viewer reads but submits nothing. */
export type Permission = 'jobs:submit' | 'jobs:read' | 'jobs:operate' | 'batches:read' | 'system:read' | 'queues:read' | 'queues:write' | 'providers:operate' | 'keys:manage';

const GRANTS: Record<KeyRole, readonly Permission[]> = {
  submitter: ['jobs:submit', 'jobs:read'],
  viewer: ['jobs:read', 'batches:read', 'system:read', 'queues:read'],
  operator: ['jobs:submit', 'jobs:read', 'jobs:operate', 'batches:read', 'system:read', 'queues:read', 'queues:write', 'providers:operate'],
  admin: ['jobs:submit', 'jobs:read', 'jobs:operate', 'batches:read', 'system:read', 'queues:read', 'queues:write', 'providers:operate', 'keys:manage'],
};

export function can(role: KeyRole, permission: Permission): boolean {
  return GRANTS[role].includes(permission);
}
