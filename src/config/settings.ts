import { findBinary } from '../infra/system-binaries.js';
import type { ProviderDescriptor } from '../providers/provider.js';
import { base32, int, list, listOf, oneOf, pattern, secret, text, timeZone, url } from './parsers.js';
import { optional, setting, type SettingsTree } from './setting.js';

/** What a process can run (RPA_ROLES); not to be confused with the roles of API keys. */
export const PROCESS_ROLES = ['api', 'batcher', 'worker', 'browser', 'portals', 'maintenance'] as const;
export type ProcessRole = (typeof PROCESS_ROLES)[number];

/** Chromium as the PATH finds it (Debian's `chromium`, or another distribution's name for it). */
export function defaultChromiumPath(): string | undefined {
  return findBinary('chromium', 'chromium-browser', 'google-chrome');
}

const dns = (what: string) => pattern(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, `must be a ${what}`);

/**
 * Every setting that is not per provider: one entry each (variable, parser, default,
 * description). The README's settings table is generated from here (`rpa settings --markdown`).
 */
export const SETTINGS = {
  port: setting('PORT', int(0, 65535), 8620, 'API listener port; `/health/*` alone in a process without the api role'),
  host: setting('HOST', text, '0.0.0.0', 'address the API (or health) listener binds'),
  roles: setting('RPA_ROLES', listOf(PROCESS_ROLES, 'role'), [...PROCESS_ROLES], 'what this process runs: api, batcher, worker, browser, portals, maintenance', { shownDefault: 'all' }),
  dataDir: setting('RPA_DATA_DIR', text, './data', 'embedded services\' data, evidence and the admin key file'),
  evidenceDir: optional('EVIDENCE_DIR', text, 'where screenshots of each job are kept', { shownDefault: '`<data>/evidence`' }),
  secretsDir: optional('SECRETS_DIR', text, 'a folder with one file per setting (as Kubernetes mounts Secrets and ConfigMaps)'),
  databaseUrl: optional('DATABASE_URL', pattern(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'), 'Postgres', { shownDefault: 'embedded Postgres', secret: true }),
  valkeyUrl: optional('VALKEY_URL', pattern(/^(redis|rediss|valkey|valkeys):\/\//, 'must be a redis:// or valkey:// URL'), 'Valkey', { shownDefault: 'embedded redis-server/valkey-server', secret: true }),
  queuePrefix: setting('QUEUE_PREFIX', pattern(/^[A-Za-z0-9_-]+$/, 'must be letters, digits, - or _'), 'rpa', 'BullMQ key prefix'),
  apiKey: optional('RPA_API_KEY', secret(16), 'bootstrap admin API key', { shownDefault: 'generated into data/admin-api-key', secret: true }),
  logLevel: setting('LOG_LEVEL', oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), 'info', 'pino log level'),
  batchSize: setting('BATCH_SIZE', int(1, 1000), 50, 'most jobs in one batch (one login)'),
  batchMaxWaitMs: setting('BATCH_MAX_WAIT_MS', int(0, 3_600_000), 2000, 'how long a partial batch waits for more jobs'),
  batchSpread: setting(
    'BATCH_SPREAD',
    oneOf<'sessions' | 'fill'>(['sessions', 'fill']),
    'sessions',
    '`sessions`: a provider\'s waiting jobs are split over its free sessions (one batch each); `fill`: one batch is filled up to the batch size first (the old way)',
  ),
  batchWarmChildren: setting('BATCH_WARM_CHILDREN', int(0, 100), 2, 'sandboxed batch processors started with the worker, per provider (at most its `<P>_MAX_SESSIONS`), so a batch does not wait for a fork'),
  batchLockDurationMs: setting('BATCH_LOCK_DURATION_MS', int(2_000, 600_000), 30_000, 'how soon a killed worker\'s batch is picked up again'),
  jobMaxAttempts: setting('JOB_MAX_ATTEMPTS', int(1, 100), 3, 'tries of a job that fails for a passing reason'),
  jobRetryBaseMs: setting('JOB_RETRY_BASE_MS', int(0, 3_600_000), 10_000, 'backoff base before such a job is tried again (doubles, at most 10 min)'),
  loginFailureThreshold: setting('LOGIN_FAILURE_THRESHOLD', int(1, 1000), 3, 'failed logins in a row that open a provider\'s login breaker'),
  loginCooldownMs: setting('LOGIN_COOLDOWN_MS', int(0, 86_400_000), 60_000, 'how long an open breaker pauses the provider\'s logins'),
  callbackSecret: optional('CALLBACK_SECRET', secret(16), 'HMAC key of callback signatures; required once a real portal URL is set', {
    shownDefault: 'a practice value (practice portals only)',
    secret: true,
    live: true,
  }),
  callbackAllowHosts: setting('CALLBACK_ALLOW_HOSTS', list, [], 'hosts exempt from the SSRF guard (e.g. 127.0.0.1 for local tests)', { shownDefault: 'none' }),
  retentionDays: setting('RETENTION_DAYS', int(1, 3650), 30, 'finished jobs, events and evidence older than this are purged'),
  chromiumPath: setting('CHROMIUM_PATH', text, defaultChromiumPath, 'Chromium for the browser pool', { shownDefault: '`chromium` on PATH' }),
  providerModules: setting('RPA_PROVIDER_MODULES', list, [], 'more providers: comma-separated paths of provider modules, loaded before the rest', { shownDefault: 'none' }),
  browserPool: {
    url: optional('BROWSER_POOL_URL', url, 'a fixed pool to lease from instead of the pool directory', { shownDefault: 'the pools in the directory' }),
    token: optional('BROWSER_POOL_TOKEN', secret(16), 'bearer token of the pools: that fixed one, this process\'s, the fleet\'s (required for pods and for a fleet shared by several workers)', {
      shownDefault: 'generated per process',
      secret: true,
    }),
    port: setting('BROWSER_POOL_PORT', int(0, 65535), 0, 'the one port of this process\'s pool: its API and its browsers (0: any free port)'),
    size: setting('BROWSER_POOL_SIZE', int(1, 64), 2, 'browsers per pool'),
    maxContextsPerBrowser: setting('BROWSER_MAX_CONTEXTS', int(1, 100), 4, 'contexts (batches) per browser at once'),
    retireAfterContexts: setting('BROWSER_RETIRE_AFTER_CONTEXTS', int(1, 100_000), 100, 'a browser is replaced after this many contexts'),
    maxMemoryMb: setting('BROWSER_MAX_MEMORY_MB', int(64, 65_536), 1024, 'a browser whose process tree uses more is replaced'),
  },
  browserManager: {
    mode: setting('BROWSER_MANAGER_MODE', oneOf(['local', 'kubernetes']), 'local', 'where the fleet of a worker without a pool URL starts pools: local processes or pods'),
    maxPools: setting('BROWSER_MAX_POOLS', int(1, 256), 4, 'most pools the fleet runs at once (one decision for all workers)'),
    warmMin: setting('BROWSER_WARM_MIN', int(0, 256), 1, 'pools kept running in business hours with nothing queued'),
    prewarmMs: setting('BROWSER_PREWARM_MS', int(0, 86_400_000), 600_000, 'how long before a schedule\'s next run its pools are started'),
    jobsPerPool: setting('BROWSER_JOBS_PER_POOL', int(1, 100_000), 20, 'queued jobs one pool is expected to absorb'),
    idleTimeoutMs: setting('BROWSER_IDLE_TIMEOUT_MS', int(0, 86_400_000), 300_000, 'an idle pool above the wanted count is stopped after this long'),
    readyTimeoutMs: setting('BROWSER_READY_TIMEOUT_MS', int(1000, 3_600_000), 120_000, 'how long a new pool may take to become ready'),
    businessHours: optional(
      'BROWSER_BUSINESS_HOURS',
      pattern(
        /^\s*(mon|tue|wed|thu|fri|sat|sun)(-(mon|tue|wed|thu|fri|sat|sun))?\s+\d{2}:\d{2}-\d{2}:\d{2}\s*(,\s*(mon|tue|wed|thu|fri|sat|sun)(-(mon|tue|wed|thu|fri|sat|sun))?\s+\d{2}:\d{2}-\d{2}:\d{2}\s*)*$/i,
        'must look like "mon-fri 07:00-19:00" (several windows: comma-separated)',
      ),
      'when BROWSER_WARM_MIN applies, e.g. `mon-fri 07:00-19:00` (several windows: comma-separated)',
      { shownDefault: 'never' },
    ),
    timeZone: setting('BROWSER_TIME_ZONE', timeZone, 'Africa/Johannesburg', 'time zone of the business hours'),
    k8s: {
      namespace: optional('BROWSER_K8S_NAMESPACE', dns('namespace name'), 'namespace of the pool pods', { shownDefault: 'the worker\'s own' }),
      image: setting('BROWSER_K8S_IMAGE', text, 'rpa-orchestrator-browser:latest', 'image of the pool pods'),
      poolPort: setting('BROWSER_K8S_POOL_PORT', int(1, 65535), 8630, 'the one port of a pool pod: its API and its browsers'),
      tokenSecret: setting('BROWSER_K8S_TOKEN_SECRET', text, 'fno-credentials', 'Secret holding the key browser-pool-token handed to the pool pods'),
      cpuRequest: setting('BROWSER_K8S_CPU_REQUEST', text, '500m', 'CPU request of a pool pod'),
      cpuLimit: setting('BROWSER_K8S_CPU_LIMIT', text, '2', 'CPU limit of a pool pod'),
      memory: setting('BROWSER_K8S_MEMORY', text, '2Gi', 'memory request and limit of a pool pod'),
      ownerPodName: optional('BROWSER_K8S_OWNER_POD_NAME', text, 'the worker pod: owner of the pool pods it starts as fleet leader, its name in the election (downward API)'),
      ownerPodUid: optional('BROWSER_K8S_OWNER_POD_UID', text, 'the uid of that pod (downward API)'),
      ownerPodNamespace: optional('BROWSER_K8S_OWNER_POD_NAMESPACE', dns('namespace name'), 'that pod\'s namespace, when the browser pods run in another one (downward API)'),
      instance: setting('BROWSER_K8S_INSTANCE', dns('DNS label'), 'rpa', 'label value telling this installation\'s pool pods apart'),
    },
  },
} satisfies SettingsTree;

/**
 * The settings of one provider, named after it (`<NAME>_URL` …). Without `<NAME>_URL` the
 * provider runs against its practice portal with the practice account.
 */
export function providerSettings(d: Pick<ProviderDescriptor, 'name' | 'label' | 'loginField' | 'needsTotp' | 'pages'>) {
  const p = d.name.toUpperCase();
  const account = d.loginField === 'email' ? 'e-mail' : 'username';
  return {
    url: optional(`${p}_URL`, url, `${d.label} portal base URL`, { shownDefault: 'the practice portal' }),
    login: optional(`${p}_${d.loginField.toUpperCase()}`, text, `${d.label} account ${account}; required with \`${p}_URL\``, { shownDefault: 'practice account' }),
    password: optional(`${p}_PASSWORD`, text, `${d.label} account password; required with \`${p}_URL\``, { shownDefault: 'practice account', secret: true, live: true }),
    totpSecret: d.needsTotp
      ? optional(`${p}_TOTP_SECRET`, base32, `${d.label} TOTP secret (base32); required with \`${p}_URL\``, { shownDefault: 'practice secret', secret: true, live: true })
      : undefined,
    totpLookaheadSteps: d.needsTotp
      ? setting(`${p}_TOTP_LOOKAHEAD`, int(0, 10), 0, 'steps before it begins that a reserved TOTP step may be used (portals that accept ± that many and remember each used step)')
      : undefined,
    maxSessions: setting(`${p}_MAX_SESSIONS`, int(1, 100), 2, 'batches of this provider running at once (below the portal\'s session cap)'),
    pagesPerSession: setting(
      `${p}_PAGES_PER_SESSION`,
      int(1, 32),
      d.pages?.perSession ?? 1,
      'jobs of one batch run at once, each in its own page of the one logged-in session (the default was measured on the practice portal; the descriptor says how, or why a portal takes only 1)',
      { shownDefault: "the descriptor's `pages.perSession` (4 for the four shipped portals), else `1`" },
    ),
    practicePort: setting(`${p}_PORT`, int(0, 65535), 0, 'port of its practice portal (0: any free port)'),
  };
}

/** Prefixes that mark a variable as ours: an unknown one with such a prefix is a typo and stops start-up. */
export const OWNED_PREFIXES = ['RPA_', 'BATCH_', 'CALLBACK_', 'BROWSER_', 'VALKEY_', 'JOB_', 'LOGIN_', 'EVIDENCE_'];
