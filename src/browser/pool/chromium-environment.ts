/**
 * Variables Chromium may see. Playwright hands a browser its launcher's whole environment unless
 * told otherwise, and the process that runs a pool may hold portal passwords, TOTP secrets and
 * database URLs (`npm start` runs every role in one process): Chromium gets these alone.
 */
const CHROMIUM_VARIABLES = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'XDG_CONFIG_HOME', 'XDG_CACHE_HOME', 'FONTCONFIG_PATH'];

/** The environment a pool's Chromium is launched with: `CHROMIUM_VARIABLES` from `env`, nothing else. */
export function chromiumEnvironment(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of CHROMIUM_VARIABLES) {
    const value = env[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}
