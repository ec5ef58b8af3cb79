/** Variables of the machine a pool process may see (no settings, no secrets of the worker). */
const SYSTEM_VARIABLES = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS'];

/** What a pool process is told: its role, where to listen, its token, its browsers. */
export interface PoolProcessSettings {
  port: number;
  /** Never logged; it reaches the child only through this environment. */
  token: string;
  size: number;
  maxContextsPerBrowser: number;
  retireAfterContexts: number;
  maxMemoryMb: number;
  chromiumPath?: string;
  logLevel: string;
  dataDir: string;
}

/**
 * The whole environment of a local pool process (`RPA_ROLES=browser`): the machine's basics from
 * `env` and the pool's own settings, nothing else. The worker that starts it may hold portal
 * passwords, TOTP secrets and database URLs; a pool and its Chromium need none of them (and
 * Chromium gets even less: pool/chromium-environment.ts).
 */
export function poolProcessEnvironment(settings: PoolProcessSettings, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const name of SYSTEM_VARIABLES) if (env[name] !== undefined) out[name] = env[name];
  Object.assign(out, {
    RPA_ROLES: 'browser',
    HOST: '127.0.0.1',
    // The child must not take the API port of the process that started it.
    PORT: '0',
    BROWSER_POOL_PORT: String(settings.port),
    BROWSER_POOL_TOKEN: settings.token,
    BROWSER_POOL_SIZE: String(settings.size),
    BROWSER_MAX_CONTEXTS: String(settings.maxContextsPerBrowser),
    BROWSER_RETIRE_AFTER_CONTEXTS: String(settings.retireAfterContexts),
    BROWSER_MAX_MEMORY_MB: String(settings.maxMemoryMb),
    LOG_LEVEL: settings.logLevel,
    RPA_DATA_DIR: settings.dataDir,
  });
  if (settings.chromiumPath) out.CHROMIUM_PATH = settings.chromiumPath;
  return out;
}
