import { z } from 'zod';
import { RpaError } from '../errors/failures.js';
import { loadProviderModules } from '../providers/provider-plugins.js';
import { configSources, liveSettingSources, loadConfig, providerModulePaths, type Config } from './config.js';
import { valkeyEndpointSchema, type ValkeyEndpoint } from './valkey-endpoint.js';

/**
 * What a process learns while it starts, apart from its settings: where the (embedded)
 * services answer, the practice portals it started, its own browser pool. Made once by
 * startSystem, frozen, and handed to child processes with the settings as one value.
 */
export interface Runtime {
  /** Postgres and Valkey (a process with only the browser or portals role has neither). */
  readonly databaseUrl?: string;
  /** The configured Valkey (one server, Sentinel, Cluster), else the embedded server's URL. */
  readonly valkey?: ValkeyEndpoint;
  /** Base URL of each provider's portal: its `<NAME>_URL`, or the practice portal started for it. */
  readonly portalUrls: Readonly<Record<string, string>>;
  /** The fixed pool (BROWSER_POOL_URL), else the one this process serves (browser role). */
  readonly browserPool?: Readonly<{ url: string; token: string }>;
  /**
   * Without BROWSER_POOL_URL, a worker's batch children lease from the pools in the pool
   * directory (Valkey) and need the tokens that open them: token id → token (the directory names
   * only the id). Handed over here, never through Valkey; never logged.
   */
  readonly poolTokens?: Readonly<Record<string, string>>;
}

const endpoint = z.object({ url: z.string().url(), token: z.string().min(16) }).strict();
const runtimeSchema = z
  .object({
    databaseUrl: z.string().regex(/^postgres(ql)?:\/\//).optional(),
    valkey: valkeyEndpointSchema.optional(),
    portalUrls: z.record(z.string().url()),
    browserPool: endpoint.optional(),
    poolTokens: z.record(z.string().regex(/^[a-z0-9-]{1,64}$/), z.string().min(16)).optional(),
  })
  .strict();

const contextSchema = z.object({ settings: z.record(z.string()), fromFiles: z.array(z.string()), runtime: runtimeSchema }).strict();

/** The environment variable that carries a child's configuration and runtime. */
export const PROCESS_CONTEXT_VAR = 'RPA_PROCESS_CONTEXT';

/** Variables a child process of ours may see besides its context; nothing else of ours (no secrets) leaks. */
const PASSED_THROUGH = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS'];

export function freezeRuntime(runtime: Runtime): Runtime {
  const parsed = runtimeSchema.safeParse(runtime);
  if (!parsed.success) throw new RpaError('INTERNAL', `runtime is incomplete: ${parsed.error.issues[0]?.path.join('.')}`);
  return Object.freeze({
    ...runtime,
    portalUrls: Object.freeze({ ...runtime.portalUrls }),
    ...(runtime.valkey ? { valkey: Object.freeze({ ...runtime.valkey }) } : {}),
    ...(runtime.poolTokens ? { poolTokens: Object.freeze({ ...runtime.poolTokens }) } : {}),
  });
}

/** The environment of a sandboxed child that must run with this process's configuration. */
export function childEnvironment(config: Config, runtime: Runtime): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const key of PASSED_THROUGH) if (process.env[key] !== undefined) env[key] = process.env[key];
  env[PROCESS_CONTEXT_VAR] = JSON.stringify({ settings: configSources(config), fromFiles: liveSettingSources(config).map((s) => s.env), runtime });
  return env;
}

/** In a child: the configuration and runtime its parent handed it (validated here, once). */
export async function inheritedContext(env: NodeJS.ProcessEnv = process.env): Promise<{ config: Config; runtime: Runtime }> {
  const text = env[PROCESS_CONTEXT_VAR];
  if (!text) throw new RpaError('CONFIG_INVALID', `${PROCESS_CONTEXT_VAR}: this process must be started by a worker`, { field: PROCESS_CONTEXT_VAR });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new RpaError('CONFIG_INVALID', `${PROCESS_CONTEXT_VAR}: not JSON`, { field: PROCESS_CONTEXT_VAR });
  }
  const parsed = contextSchema.safeParse(json);
  if (!parsed.success) throw new RpaError('CONFIG_INVALID', `${PROCESS_CONTEXT_VAR}: ${parsed.error.issues[0]?.path.join('.')} is invalid`, { field: PROCESS_CONTEXT_VAR });
  // The parent's provider plugins first: they bring settings of their own.
  await loadProviderModules(providerModulePaths({ RPA_PROVIDER_MODULES: parsed.data.settings.RPA_PROVIDER_MODULES }));
  return { config: loadConfig({ values: parsed.data.settings, fromFiles: parsed.data.fromFiles }), runtime: freezeRuntime(parsed.data.runtime) };
}
