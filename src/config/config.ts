import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { RpaError } from '../errors/failures.js';
import { hasPracticePortal, providerDescriptors } from '../providers/descriptors.js';
import type { ProviderDescriptor } from '../providers/provider.js';
import { readSecretsDir, settingFileName } from './secrets-dir.js';

export const ROLES = ['api', 'batcher', 'worker', 'browser', 'portals', 'maintenance'] as const;
export type Role = (typeof ROLES)[number];

export interface ProviderConfig {
  descriptor: ProviderDescriptor;
  /** Base URL of the portal; undefined until the practice portal is started for it. */
  url?: string;
  /** True when no `<NAME>_URL` was given: the system runs this provider against its practice portal. */
  practice: boolean;
  login: string;
  password: string;
  totpSecret?: string;
  /**
   * Steps before it begins that a reserved TOTP step may be used (`<NAME>_TOTP_LOOKAHEAD`,
   * default 0). Only for portals that accept ± that many steps and remember each used step.
   */
  totpLookaheadSteps: number;
  maxSessions: number;
  /** Port of the practice portal (0 = any free port). */
  practicePort: number;
}

export interface BrowserManagerConfig {
  /** `local`: browser-pool processes on this machine; `kubernetes`: browser-pool pods in the cluster. */
  mode: 'local' | 'kubernetes';
  /** Most browser-pool services (pods or processes) at once. */
  maxPools: number;
  /** Services kept running during business hours even with nothing queued. */
  warmPools: number;
  /** Queued jobs one service is expected to absorb; the queue depth divided by this is the demand. */
  jobsPerPool: number;
  /** A service above the wanted count, with no lease, is stopped after this long idle. */
  idleTimeoutMs: number;
  /** How long a new service may take to become ready (pod Ready and the pool's /health/ready). */
  readyTimeoutMs: number;
  /** e.g. `mon-fri 07:00-19:00`; undefined = never (no warm pool). */
  businessHours?: string;
  /** IANA time zone the business hours are in. */
  timeZone: string;
  k8s: {
    namespace?: string;
    image: string;
    /** Port the pool listens on inside the pod. */
    poolPort: number;
    /** Name of the Secret holding the key `browser-pool-token` handed to the pods. */
    tokenSecret: string;
    cpuRequest: string;
    cpuLimit: string;
    memory: string;
    /** The manager's own pod (downward API): owner of the pods it creates. */
    ownerPodName?: string;
    ownerPodUid?: string;
    /** Extra label value that tells this system's browser pods apart from another installation's. */
    instance: string;
  };
}

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  evidenceDir: string;
  databaseUrl?: string;
  valkeyUrl?: string;
  apiKey?: string;
  batchSize: number;
  batchMaxWaitMs: number;
  logLevel: string;
  roles: Role[];
  queuePrefix: string;
  jobMaxAttempts: number;
  /** Backoff base before a job that failed for a passing reason is tried again. */
  jobRetryBaseMs: number;
  /** How long a batch run's lock lives without renewal: a killed worker's batch is recovered after about this long. */
  batchLockDurationMs: number;
  callbackSecret: string;
  callbackAllowHosts: string[];
  loginFailureThreshold: number;
  loginCooldownMs: number;
  retentionDays: number;
  chromiumPath?: string;
  browserPool: {
    url?: string;
    port: number;
    size: number;
    token?: string;
    maxContextsPerBrowser: number;
    retireAfterContexts: number;
    maxMemoryMb: number;
  };
  /** Where browser-pool services come from (src/browser/browser-service-manager.ts). */
  browserManager: BrowserManagerConfig;
  /**
   * The worker's browser broker (src/browser/browser-broker.ts), set by the worker role in the
   * environment of its sandboxed batch children when they get browsers through it rather than
   * from BROWSER_POOL_URL. Not a setting for operators.
   */
  browserBroker: { url?: string; token?: string };
  providers: Record<string, ProviderConfig>;
  /**
   * The settings read from the environment given to loadConfig (not from SECRETS_DIR), as
   * given: child processes (sandboxed batch processors) start from them, so a configuration
   * built from an explicit env behaves the same in them as in this process.
   */
  environment: Record<string, string>;
  /** RPA_PROVIDER_MODULES: provider plugins, loaded (providerModulePaths) before this config was built. */
  providerModules: string[];
}

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(min).max(max));
const url = z.string().url('must be a URL');
const nonEmpty = z.string().min(1, 'must not be empty');

/** Every setting the system reads that is not per provider, with its parser. Defaults live in `build`. */
const GLOBAL_SETTINGS = {
  PORT: int(0, 65535),
  HOST: nonEmpty,
  RPA_DATA_DIR: nonEmpty,
  EVIDENCE_DIR: nonEmpty,
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'),
  VALKEY_URL: z.string().regex(/^(redis|rediss|valkey|valkeys):\/\//, 'must be a redis:// or valkey:// URL'),
  RPA_API_KEY: z.string().min(16, 'must be at least 16 characters'),
  BATCH_SIZE: int(1, 1000),
  BATCH_MAX_WAIT_MS: int(0, 3_600_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  RPA_ROLES: z.string().regex(/^[a-z,\s]+$/, 'must be a comma-separated list of roles'),
  QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+$/, 'must be letters, digits, - or _'),
  JOB_MAX_ATTEMPTS: int(1, 100),
  JOB_RETRY_BASE_MS: int(0, 3_600_000),
  BATCH_LOCK_DURATION_MS: int(2_000, 600_000),
  CALLBACK_SECRET: z.string().min(16, 'must be at least 16 characters'),
  CALLBACK_ALLOW_HOSTS: z.string(),
  LOGIN_FAILURE_THRESHOLD: int(1, 1000),
  LOGIN_COOLDOWN_MS: int(0, 86_400_000),
  RETENTION_DAYS: int(1, 3650),
  CHROMIUM_PATH: nonEmpty,
  BROWSER_POOL_URL: url,
  BROWSER_POOL_PORT: int(0, 65535),
  BROWSER_POOL_SIZE: int(1, 64),
  BROWSER_POOL_TOKEN: z.string().min(16, 'must be at least 16 characters'),
  BROWSER_MAX_CONTEXTS: int(1, 100),
  BROWSER_RETIRE_AFTER_CONTEXTS: int(1, 100_000),
  BROWSER_MAX_MEMORY_MB: int(64, 65_536),
  BROWSER_MANAGER_MODE: z.enum(['local', 'kubernetes']),
  BROWSER_BROKER_URL: url,
  BROWSER_BROKER_TOKEN: z.string().min(16, 'must be at least 16 characters'),
  BROWSER_MAX_POOLS: int(1, 256),
  BROWSER_WARM_POOLS: int(0, 256),
  BROWSER_JOBS_PER_POOL: int(1, 100_000),
  BROWSER_IDLE_TIMEOUT_MS: int(0, 86_400_000),
  BROWSER_READY_TIMEOUT_MS: int(1000, 3_600_000),
  BROWSER_BUSINESS_HOURS: z.string().regex(/^(mon|tue|wed|thu|fri|sat|sun)(-(mon|tue|wed|thu|fri|sat|sun))?\s+\d{2}:\d{2}-\d{2}:\d{2}$/i, 'must look like "mon-fri 07:00-19:00"'),
  BROWSER_TIME_ZONE: nonEmpty,
  BROWSER_K8S_NAMESPACE: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a namespace name'),
  BROWSER_K8S_IMAGE: nonEmpty,
  BROWSER_K8S_POOL_PORT: int(1, 65535),
  BROWSER_K8S_TOKEN_SECRET: nonEmpty,
  BROWSER_K8S_CPU_REQUEST: nonEmpty,
  BROWSER_K8S_CPU_LIMIT: nonEmpty,
  BROWSER_K8S_MEMORY: nonEmpty,
  BROWSER_K8S_OWNER_POD_NAME: nonEmpty,
  BROWSER_K8S_OWNER_POD_UID: nonEmpty,
  BROWSER_K8S_INSTANCE: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label'),
  SECRETS_DIR: nonEmpty,
  RPA_PROVIDER_MODULES: z.string(),
  NODE_ENV: z.string(),
} as const;

type GlobalKey = keyof typeof GLOBAL_SETTINGS;

function providerSettings(d: ProviderDescriptor): Record<string, z.ZodTypeAny> {
  const p = d.name.toUpperCase();
  const settings: Record<string, z.ZodTypeAny> = {
    [`${p}_URL`]: url,
    [`${p}_${d.loginField.toUpperCase()}`]: nonEmpty,
    [`${p}_PASSWORD`]: nonEmpty,
    [`${p}_MAX_SESSIONS`]: int(1, 100),
    [`${p}_PORT`]: int(0, 65535),
  };
  if (d.needsTotp) settings[`${p}_TOTP_SECRET`] = z.string().regex(/^[A-Z2-7]+=*$/i, 'must be base32');
  if (d.needsTotp) settings[`${p}_TOTP_LOOKAHEAD`] = int(0, 10);
  return settings;
}

/** Prefixes that mark a variable as ours: an unknown one with such a prefix is a typo, and stops start-up. */
function ownedPrefixes(): string[] {
  return ['RPA_', 'BATCH_', 'CALLBACK_', 'BROWSER_', 'VALKEY_', 'JOB_', 'LOGIN_', ...providerDescriptors().map((d) => `${d.name.toUpperCase()}_`)];
}

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/**
 * Reads and validates every setting once. Explicit environment variables win over files in
 * SECRETS_DIR; a file wins over an unset variable. Throws RpaError CONFIG_INVALID naming the
 * setting, never echoing a secret's value.
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const schema: Record<string, z.ZodTypeAny> = { ...GLOBAL_SETTINGS };
  for (const d of providerDescriptors()) Object.assign(schema, providerSettings(d));

  const raw = new Map<string, string>();
  const environment: Record<string, string> = {};
  const secretsDir = env.SECRETS_DIR;
  if (secretsDir) {
    const known = new Map(Object.keys(schema).map((k) => [settingFileName(k), k]));
    for (const [file, value] of readSecretsDir(secretsDir)) {
      const key = known.get(file);
      if (!key) throw new RpaError('CONFIG_INVALID', `SECRETS_DIR: unknown setting file "${file}"`, { field: file });
      raw.set(key, value);
    }
  }
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (key in schema) {
      if (value === '' && key !== 'CALLBACK_ALLOW_HOSTS') continue;
      raw.set(key, value);
      environment[key] = value;
    } else if (ownedPrefixes().some((p) => key.startsWith(p))) {
      throw new RpaError('CONFIG_INVALID', `${key}: unknown setting`, { field: key });
    }
  }

  const parsed = new Map<string, unknown>();
  for (const [key, value] of raw) {
    const result = schema[key]!.safeParse(value.trim());
    if (!result.success) {
      const why = result.error.issues[0]?.message ?? 'invalid';
      throw new RpaError('CONFIG_INVALID', `${key}: ${why}`, { field: key });
    }
    parsed.set(key, result.data);
  }
  const get = <T>(key: string, fallback: T): T => (parsed.has(key) ? (parsed.get(key) as T) : fallback);
  const opt = <T>(key: string): T | undefined => parsed.get(key) as T | undefined;

  const dataDir = resolve(cwd, get<string>('RPA_DATA_DIR' satisfies GlobalKey, './data'));
  const roles = parseRoles(get<string>('RPA_ROLES', ROLES.join(',')));

  const providers: Record<string, ProviderConfig> = {};
  for (const d of providerDescriptors()) {
    const p = d.name.toUpperCase();
    const providerUrl = opt<string>(`${p}_URL`);
    const practice = providerUrl === undefined;
    if (practice && !hasPracticePortal(d.name)) throw new RpaError('CONFIG_INVALID', `${p}_URL: required (${d.label} has no practice portal)`, { field: `${p}_URL` });
    const loginKey = `${p}_${d.loginField.toUpperCase()}`;
    const need = (key: string, fallback: string | undefined): string => {
      const value = opt<string>(key) ?? (practice ? fallback : undefined);
      if (value === undefined) throw new RpaError('CONFIG_INVALID', `${key}: required when ${p}_URL is set`, { field: key });
      return value;
    };
    providers[d.name] = {
      descriptor: d,
      url: providerUrl?.replace(/\/+$/, ''),
      practice,
      login: need(loginKey, d.practiceAccount.login),
      password: need(`${p}_PASSWORD`, d.practiceAccount.password),
      totpSecret: d.needsTotp ? need(`${p}_TOTP_SECRET`, d.practiceAccount.totpSecret) : undefined,
      totpLookaheadSteps: get(`${p}_TOTP_LOOKAHEAD`, 0),
      maxSessions: get(`${p}_MAX_SESSIONS`, 2),
      practicePort: get(`${p}_PORT`, 0),
    };
  }

  return {
    port: get('PORT', 8620),
    host: get('HOST', '0.0.0.0'),
    dataDir,
    evidenceDir: resolve(cwd, get('EVIDENCE_DIR', resolve(dataDir, 'evidence'))),
    databaseUrl: opt('DATABASE_URL'),
    valkeyUrl: opt('VALKEY_URL'),
    apiKey: opt('RPA_API_KEY'),
    batchSize: get('BATCH_SIZE', 50),
    batchMaxWaitMs: get('BATCH_MAX_WAIT_MS', 2000),
    logLevel: get('LOG_LEVEL', 'info'),
    roles,
    queuePrefix: get('QUEUE_PREFIX', 'rpa'),
    jobMaxAttempts: get('JOB_MAX_ATTEMPTS', 3),
    jobRetryBaseMs: get('JOB_RETRY_BASE_MS', 10_000),
    batchLockDurationMs: get('BATCH_LOCK_DURATION_MS', 30_000),
    callbackSecret: get('CALLBACK_SECRET', 'practice-callback-secret-change-me'),
    callbackAllowHosts: get('CALLBACK_ALLOW_HOSTS', '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean),
    loginFailureThreshold: get('LOGIN_FAILURE_THRESHOLD', 3),
    loginCooldownMs: get('LOGIN_COOLDOWN_MS', 60_000),
    retentionDays: get('RETENTION_DAYS', 30),
    chromiumPath: opt('CHROMIUM_PATH') ?? defaultChromiumPath(),
    browserPool: {
      url: opt('BROWSER_POOL_URL'),
      port: get('BROWSER_POOL_PORT', 0),
      size: get('BROWSER_POOL_SIZE', 2),
      token: opt('BROWSER_POOL_TOKEN'),
      maxContextsPerBrowser: get('BROWSER_MAX_CONTEXTS', 4),
      retireAfterContexts: get('BROWSER_RETIRE_AFTER_CONTEXTS', 100),
      maxMemoryMb: get('BROWSER_MAX_MEMORY_MB', 1024),
    },
    browserManager: {
      mode: get('BROWSER_MANAGER_MODE', 'local'),
      maxPools: get('BROWSER_MAX_POOLS', 4),
      warmPools: get('BROWSER_WARM_POOLS', 1),
      jobsPerPool: get('BROWSER_JOBS_PER_POOL', 20),
      idleTimeoutMs: get('BROWSER_IDLE_TIMEOUT_MS', 300_000),
      readyTimeoutMs: get('BROWSER_READY_TIMEOUT_MS', 120_000),
      businessHours: opt('BROWSER_BUSINESS_HOURS'),
      timeZone: get('BROWSER_TIME_ZONE', 'UTC'),
      k8s: {
        namespace: opt('BROWSER_K8S_NAMESPACE'),
        image: get('BROWSER_K8S_IMAGE', 'rpa-orchestrator-browser:latest'),
        poolPort: get('BROWSER_K8S_POOL_PORT', 8630),
        tokenSecret: get('BROWSER_K8S_TOKEN_SECRET', 'fno-credentials'),
        cpuRequest: get('BROWSER_K8S_CPU_REQUEST', '500m'),
        cpuLimit: get('BROWSER_K8S_CPU_LIMIT', '2'),
        memory: get('BROWSER_K8S_MEMORY', '2Gi'),
        ownerPodName: opt('BROWSER_K8S_OWNER_POD_NAME'),
        ownerPodUid: opt('BROWSER_K8S_OWNER_POD_UID'),
        instance: get('BROWSER_K8S_INSTANCE', 'rpa'),
      },
    },
    browserBroker: { url: opt('BROWSER_BROKER_URL'), token: opt('BROWSER_BROKER_TOKEN') },
    providers,
    environment,
    providerModules: providerModulePaths(env),
  };
}

/**
 * RPA_PROVIDER_MODULES (comma-separated absolute paths of provider plugin modules) from the
 * environment: what `loadProviderModules` loads before `loadConfig` builds the configuration.
 */
export function providerModulePaths(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.RPA_PROVIDER_MODULES ?? '').split(',').map((path) => path.trim()).filter(Boolean);
}

function parseRoles(value: string): Role[] {
  const roles = value.split(',').map((r) => r.trim()).filter(Boolean);
  for (const role of roles) {
    if (!(ROLES as readonly string[]).includes(role)) {
      throw new RpaError('CONFIG_INVALID', `RPA_ROLES: unknown role "${role}" (known: ${ROLES.join(', ')})`, { field: 'RPA_ROLES' });
    }
  }
  if (roles.length === 0) throw new RpaError('CONFIG_INVALID', 'RPA_ROLES: no role given', { field: 'RPA_ROLES' });
  return roles as Role[];
}

const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export function defaultChromiumPath(): string | undefined {
  return CHROMIUM_CANDIDATES.find((p) => existsSync(p));
}
