import { z } from 'zod';
import { RpaError } from '../errors/failures.js';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/**
 * Where Valkey answers: one server (a URL), the master a group of Sentinels names (followed
 * through failovers), or a Valkey Cluster (some of its nodes; the others are discovered).
 * Made from the settings, or from the embedded server a process started; handed to child
 * processes in their Runtime and to the CLI in services.json. It holds passwords: never log it
 * (describeValkey() is the loggable form).
 */
export type ValkeyEndpoint =
  | { readonly mode: 'server'; readonly url: string }
  | { readonly mode: 'sentinel'; readonly sentinels: readonly HostPort[]; readonly name: string; readonly password?: string; readonly sentinelPassword?: string }
  | { readonly mode: 'cluster'; readonly nodes: readonly HostPort[]; readonly password?: string };

const hostPort = z.object({ host: z.string().min(1), port: z.number().int().min(1).max(65535) }).strict();

export const valkeyEndpointSchema: z.ZodType<ValkeyEndpoint> = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('server'), url: z.string().regex(/^(redis|rediss|valkey|valkeys):\/\//) }).strict(),
  z
    .object({ mode: z.literal('sentinel'), sentinels: z.array(hostPort).min(1), name: z.string().min(1), password: z.string().optional(), sentinelPassword: z.string().optional() })
    .strict(),
  z.object({ mode: z.literal('cluster'), nodes: z.array(hostPort).min(1), password: z.string().optional() }).strict(),
]);

/** The Valkey settings, as loadConfig parsed them. */
export interface ValkeySettings {
  valkeyUrl?: string;
  valkeyPassword?: string;
  valkeySentinels?: readonly HostPort[];
  valkeySentinelName: string;
  valkeySentinelPassword?: string;
  valkeyClusterNodes?: readonly HostPort[];
}

/**
 * The endpoint the settings name, or undefined when none does (the embedded server). At most
 * one of VALKEY_URL, VALKEY_SENTINELS and VALKEY_CLUSTER_NODES; the passwords only where they
 * mean something. Throws CONFIG_INVALID naming the settings, never a value.
 */
export function valkeyEndpointOf(s: ValkeySettings): ValkeyEndpoint | undefined {
  const given = [s.valkeyUrl && 'VALKEY_URL', s.valkeySentinels && 'VALKEY_SENTINELS', s.valkeyClusterNodes && 'VALKEY_CLUSTER_NODES'].filter((n): n is string => Boolean(n));
  if (given.length > 1) {
    throw new RpaError('CONFIG_INVALID', `${given.join(' and ')}: set only one (one server, a Sentinel group, or a Valkey Cluster)`, { field: given[1] });
  }
  if (s.valkeySentinelPassword !== undefined && !s.valkeySentinels) {
    throw new RpaError('CONFIG_INVALID', 'VALKEY_SENTINEL_PASSWORD: only with VALKEY_SENTINELS', { field: 'VALKEY_SENTINEL_PASSWORD' });
  }
  if (s.valkeyPassword !== undefined && !s.valkeySentinels && !s.valkeyClusterNodes) {
    throw new RpaError(
      'CONFIG_INVALID',
      s.valkeyUrl
        ? 'VALKEY_PASSWORD: not with VALKEY_URL, which carries its own password (redis://:<password>@host:port)'
        : 'VALKEY_PASSWORD: only with VALKEY_SENTINELS or VALKEY_CLUSTER_NODES (the embedded Valkey has none)',
      { field: 'VALKEY_PASSWORD' },
    );
  }
  const password = s.valkeyPassword === undefined ? {} : { password: s.valkeyPassword };
  if (s.valkeyUrl) return { mode: 'server', url: s.valkeyUrl };
  if (s.valkeySentinels) {
    return {
      mode: 'sentinel',
      sentinels: s.valkeySentinels,
      name: s.valkeySentinelName,
      ...password,
      ...(s.valkeySentinelPassword === undefined ? {} : { sentinelPassword: s.valkeySentinelPassword }),
    };
  }
  if (s.valkeyClusterNodes) return { mode: 'cluster', nodes: s.valkeyClusterNodes, ...password };
  return undefined;
}

const joined = (nodes: readonly HostPort[]) => nodes.map((n) => `${n.host}:${n.port}`).join(',');

/** The settings that name `endpoint` (for a process started with environment variables, not a Runtime). */
export function valkeySettingsFor(endpoint: ValkeyEndpoint): Record<string, string> {
  const password = (p?: string): Record<string, string> => (p === undefined ? {} : { VALKEY_PASSWORD: p });
  switch (endpoint.mode) {
    case 'server':
      return { VALKEY_URL: endpoint.url };
    case 'sentinel':
      return {
        VALKEY_SENTINELS: joined(endpoint.sentinels),
        VALKEY_SENTINEL_NAME: endpoint.name,
        ...password(endpoint.password),
        ...(endpoint.sentinelPassword === undefined ? {} : { VALKEY_SENTINEL_PASSWORD: endpoint.sentinelPassword }),
      };
    case 'cluster':
      return { VALKEY_CLUSTER_NODES: joined(endpoint.nodes), ...password(endpoint.password) };
  }
}

/** `endpoint` without its passwords, for logs and messages. */
export function describeValkey(endpoint: ValkeyEndpoint): string {
  switch (endpoint.mode) {
    case 'server': {
      try {
        const url = new URL(endpoint.url);
        url.username = '';
        url.password = '';
        return url.toString().replace(/\/$/, '');
      } catch {
        return 'a Valkey URL';
      }
    }
    case 'sentinel':
      return `master "${endpoint.name}" of the sentinels ${joined(endpoint.sentinels)}`;
    case 'cluster':
      return `the Valkey Cluster of ${joined(endpoint.nodes)}`;
  }
}
