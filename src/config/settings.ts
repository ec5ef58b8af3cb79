import { findBinary } from '../infra/system-binaries.js';
import type { ProviderDescriptor } from '../providers/provider.js';
import { KEY_ROLES } from '../db/schema.js';
import { base32, bool, hostPorts, int, list, listOf, oneOf, pattern, perName, ports, secret, text, timeZone, trustProxy, url } from './parsers.js';
import { optional, setting, type SettingsTree } from './setting.js';

/** What a process can run (RPA_ROLES); not to be confused with the roles of API keys. */
export const PROCESS_ROLES = ['api', 'batcher', 'worker', 'browser', 'portals', 'maintenance'] as const;
export type ProcessRole = (typeof PROCESS_ROLES)[number];

/** Chromium as the PATH finds it (Debian's `chromium`, or another distribution's name for it). */
export function defaultChromiumPath(): string | undefined {
  return findBinary('chromium', 'chromium-browser', 'google-chrome');
}

/** `mon-fri 07:00-19:00`, several windows comma-separated (parsed in full by calendar/business-hours.ts). */
const businessHoursText = pattern(
  /^\s*(mon|tue|wed|thu|fri|sat|sun)(-(mon|tue|wed|thu|fri|sat|sun))?\s+\d{2}:\d{2}-\d{2}:\d{2}\s*(,\s*(mon|tue|wed|thu|fri|sat|sun)(-(mon|tue|wed|thu|fri|sat|sun))?\s+\d{2}:\d{2}-\d{2}:\d{2}\s*)*$/i,
  'must look like "mon-fri 07:00-19:00" (several windows: comma-separated)',
);
/** Default rate limits per API-key role (RATE_LIMIT_REQUESTS, RATE_LIMIT_JOBS). */
const ROLE_REQUESTS = { submitter: 600, viewer: 600, operator: 1200, admin: 1200 } as const;
const ROLE_JOBS = { submitter: 20_000, viewer: 0, operator: 20_000, admin: 20_000 } as const;

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
  evidenceDir: optional('EVIDENCE_DIR', text, 'the folder of the `fs` evidence store (screenshots and failure details of each job)', { shownDefault: '`<data>/evidence`' }),
  evidence: {
    store: setting('EVIDENCE_STORE', oneOf(['fs', 's3']), 'fs', 'where evidence is kept: `fs` (EVIDENCE_DIR, one machine) or `s3` (an S3-compatible bucket every pod reaches)'),
    s3: {
      bucket: optional('EVIDENCE_S3_BUCKET', pattern(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name'), 'the bucket; required with EVIDENCE_STORE=s3'),
      endpoint: optional('EVIDENCE_S3_ENDPOINT', url, 'the S3 endpoint (MinIO, Ceph RGW, OpenShift Data Foundation)', { shownDefault: 'AWS\'s, from the region' }),
      region: setting('EVIDENCE_S3_REGION', text, 'us-east-1', 'the region the requests are signed for'),
      accessKeyId: optional('EVIDENCE_S3_ACCESS_KEY_ID', text, 'access key id; required with EVIDENCE_STORE=s3', { secret: true }),
      secretAccessKey: optional('EVIDENCE_S3_SECRET_ACCESS_KEY', text, 'secret access key; required with EVIDENCE_STORE=s3', { secret: true }),
      forcePathStyle: setting('EVIDENCE_S3_FORCE_PATH_STYLE', bool, true, 'path-style requests (`endpoint/bucket/key`), as MinIO and most on-premises stores want'),
      prefix: setting('EVIDENCE_S3_PREFIX', pattern(/^([A-Za-z0-9][A-Za-z0-9._-]{0,127}\/)*$/, 'must be empty or folder names each ending in /'), 'evidence/', 'put before every object key, so one bucket can serve several installations'),
    },
  },
  publicBaseUrl: optional('PUBLIC_BASE_URL', url, 'the API\'s address as ORDS reaches it: evidence URLs in callbacks start with it', { shownDefault: 'the API\'s own address' }),
  secretsDir: optional('SECRETS_DIR', text, 'a folder with one file per setting (as Kubernetes mounts Secrets and ConfigMaps)'),
  databaseUrl: optional('DATABASE_URL', pattern(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'), 'Postgres', { shownDefault: 'embedded Postgres', secret: true }),
  valkeyUrl: optional('VALKEY_URL', pattern(/^(redis|rediss|valkey|valkeys):\/\//, 'must be a redis:// or valkey:// URL'), 'Valkey: one server (at most one of `VALKEY_URL`, `VALKEY_SENTINELS` and `VALKEY_CLUSTER_NODES`)', {
    shownDefault: 'embedded redis-server/valkey-server',
    secret: true,
  }),
  valkeySentinels: optional('VALKEY_SENTINELS', hostPorts, 'Valkey through Sentinel: comma-separated host:port of the sentinels; commands follow the master through failovers'),
  valkeySentinelName: setting('VALKEY_SENTINEL_NAME', text, 'mymaster', 'the master group the sentinels watch (with `VALKEY_SENTINELS`)'),
  valkeySentinelPassword: optional('VALKEY_SENTINEL_PASSWORD', text, 'password of the sentinels themselves, when they have one (with `VALKEY_SENTINELS`)', { secret: true }),
  valkeyClusterNodes: optional('VALKEY_CLUSTER_NODES', hostPorts, 'Valkey Cluster: comma-separated host:port of some of its nodes (the others are discovered)'),
  valkeyPassword: optional('VALKEY_PASSWORD', text, 'password of the Valkey servers behind `VALKEY_SENTINELS` or `VALKEY_CLUSTER_NODES` (`VALKEY_URL` carries its own)', { secret: true }),
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
  batchCanary: setting('BATCH_CANARY', oneOf(['on', 'off']), 'on', 'read the provider\'s probe page against the portal contract before each batch\'s jobs (a changed portal pauses it at once)'),
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
  callbackAllowHosts: setting(
    'CALLBACK_ALLOW_HOSTS',
    list,
    [],
    'hosts exempt from the SSRF guard (e.g. 127.0.0.1 for local tests); `host:port` also allows that port on the host, `host:*` any port (local tests only)',
    { shownDefault: 'none' },
  ),
  callbackAllowPorts: setting('CALLBACK_ALLOW_PORTS', ports, [80, 443], 'the ports a callback URL may name (plus the port of each `host:port` entry of CALLBACK_ALLOW_HOSTS, on that host)'),
  trustProxy: setting(
    'TRUST_PROXY',
    trustProxy,
    false,
    'proxies in front of the API whose X-Forwarded-For/-Proto are believed (Express `trust proxy`): `false`, a hop count (1 for the OpenShift route), or addresses/subnets; decides the client address (rate limits) and TLS (`Secure` cookies)',
    { shownDefault: '`false` (no proxy)' },
  ),
  rateLimits: {
    windowMs: setting('RATE_LIMIT_WINDOW_MS', int(1_000, 86_400_000), 60_000, 'the window of the request and job rate limits (one count per key or address, shared by every API replica through Valkey)'),
    requests: setting('RATE_LIMIT_REQUESTS', perName(KEY_ROLES, ROLE_REQUESTS), ROLE_REQUESTS, 'requests one API key may make per window, by its role (`role:n`, comma-separated; roles left out keep their default)', {
      shownDefault: '`submitter:600,viewer:600,operator:1200,admin:1200`',
    }),
    jobs: setting('RATE_LIMIT_JOBS', perName(KEY_ROLES, ROLE_JOBS), ROLE_JOBS, 'jobs one API key may submit per window, by its role (a bulk request counts its jobs)', {
      shownDefault: '`submitter:20000,viewer:0,operator:20000,admin:20000`',
    }),
    anonymous: setting('RATE_LIMIT_ANONYMOUS', int(1, 1_000_000), 60, 'requests per window from one client address that carry no valid API key (`/health*` exempt)'),
    failedLogins: setting('RATE_LIMIT_FAILED_LOGINS', int(1, 1_000_000), 10, 'wrong API keys (API and Bull Board login) one client address may present per RATE_LIMIT_FAILED_LOGIN_WINDOW_MS before it is refused until the window ends'),
    failedLoginWindowMs: setting('RATE_LIMIT_FAILED_LOGIN_WINDOW_MS', int(1_000, 86_400_000), 900_000, 'the window of RATE_LIMIT_FAILED_LOGINS'),
  },
  scheduleMinIntervalMs: setting('SCHEDULE_MIN_INTERVAL_MS', int(0, 86_400_000), 300_000, 'the shortest time between two runs a schedule\'s cron expression may have'),
  boardSessionTtlMs: setting('BULL_BOARD_SESSION_TTL_MS', int(60_000, 7 * 86_400_000), 8 * 3_600_000, 'how long a Bull Board login lasts (the session is kept in Valkey; revoking its key ends it at once)'),
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
      businessHoursText,
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
    driftThreshold: setting(`${p}_DRIFT_THRESHOLD`, int(1, 100), 3, 'page-contract mismatches in a row that pause it for contract drift'),
    timeZone: setting(`${p}_TIME_ZONE`, timeZone, 'Africa/Johannesburg', 'time zone of its business hours and maintenance windows'),
    businessHours: optional(`${p}_BUSINESS_HOURS`, businessHoursText, 'when its batches may run, e.g. `mon-fri 07:00-19:00` (comma-separated windows)', { shownDefault: 'always' }),
    maintenanceWindows: optional(
      `${p}_MAINTENANCE_WINDOWS`,
      text,
      'when its portal is down for maintenance: `<cron> for <duration>` (`0 2 * * sun for 2h`) or `<start>/<end>` (ISO times), `;`-separated',
      { shownDefault: 'none' },
    ),
    practicePort: setting(`${p}_PORT`, int(0, 65535), 0, 'port of its practice portal (0: any free port)'),
  };
}

/** Prefixes that mark a variable as ours: an unknown one with such a prefix is a typo and stops start-up. */
export const OWNED_PREFIXES = ['RPA_', 'BATCH_', 'CALLBACK_', 'BROWSER_', 'VALKEY_', 'JOB_', 'LOGIN_', 'EVIDENCE_', 'RATE_LIMIT_', 'SCHEDULE_', 'BULL_BOARD_'];
