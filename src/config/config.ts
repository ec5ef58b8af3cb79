import { join, resolve } from 'node:path';
import { RpaError } from '../errors/failures.js';
import { hasPracticePortal, providerDescriptors } from '../providers/descriptors.js';
import type { ProviderDescriptor } from '../providers/provider.js';
import { parseBusinessHours } from '../calendar/business-hours.js';
import { parseMaintenanceText, type ProviderWindows } from '../calendar/provider-windows.js';
import { readSecretsDir, settingFileName } from './secrets-dir.js';
import { isSetting, type Setting, type SettingsTree, type ValuesOf } from './setting.js';
import { OWNED_PREFIXES, PROCESS_ROLES, SETTINGS, providerSettings, type ProcessRole } from './settings.js';
import { valkeyEndpointOf, type ValkeyEndpoint } from './valkey-endpoint.js';

export { PROCESS_ROLES, type ProcessRole };

/** The practice portals' callback secret: published, so never used once a real portal URL is set. */
const PRACTICE_CALLBACK_SECRET = 'practice-callback-secret-change-me';

export interface ProviderConfig {
  descriptor: ProviderDescriptor;
  /** The portal's base URL when `<NAME>_URL` is set; a practice provider's URL is known only at run time (Runtime). */
  url?: string;
  /** True when no `<NAME>_URL` was given: the provider runs against its practice portal and practice account. */
  practice: boolean;
  login: string;
  password: string;
  totpSecret?: string;
  /** Steps before it begins that a reserved TOTP step may be used (`<NAME>_TOTP_LOOKAHEAD`). */
  totpLookaheadSteps: number;
  maxSessions: number;
  /** Jobs of one batch run at once in pages of its one login (`<NAME>_PAGES_PER_SESSION`). */
  pagesPerSession: number;
  /** PAGE_CONTRACT_MISMATCH answers in a row that pause the provider for contract drift. */
  driftThreshold: number;
  /** Its configured maintenance windows and business hours (an operator's PUT /providers/:name/windows replaces them). */
  windows: ProviderWindows;
  /** Port of the practice portal (0 = any free port). */
  practicePort: number;
}

type Settings = ValuesOf<typeof SETTINGS>;
/** Read through `Config.valkey` only. */
const VALKEY_SETTING_NAMES = ['valkeyUrl', 'valkeySentinels', 'valkeySentinelName', 'valkeySentinelPassword', 'valkeyClusterNodes', 'valkeyPassword'] as const;
type ValkeySettingName = (typeof VALKEY_SETTING_NAMES)[number];

/** The configuration: every setting, validated once and frozen. What a process learns later is in its Runtime. */
export interface Config extends Omit<Settings, 'evidenceDir' | 'callbackSecret' | ValkeySettingName> {
  evidenceDir: string;
  callbackSecret: string;
  /** The Valkey the settings name (one server, a Sentinel group, a Cluster); undefined: the embedded one. */
  valkey: ValkeyEndpoint | undefined;
  providers: Readonly<Record<string, Readonly<ProviderConfig>>>;
}

export type BrowserManagerConfig = Config['browserManager'];

export interface LoadConfigOptions {
  /** Environment to read (default process.env). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * The setting values themselves (variable → text), as another process loaded them: a
   * sandboxed child starts from its parent's values, not from its own environment.
   */
  values?: Readonly<Record<string, string>>;
  /** With `values`: which of them came from SECRETS_DIR files (the live ones follow their file). */
  fromFiles?: readonly string[];
}

/** The texts each config was loaded from, for handing the same configuration to child processes. */
const sources = new WeakMap<Config, Readonly<Record<string, string>>>();
/** Live settings whose value came from a SECRETS_DIR file (they follow the file; see live-settings.ts). */
const liveFromFiles = new WeakMap<Config, Array<{ env: string; parse: (text: string) => string }>>();

/**
 * Reads and validates every setting once. An environment variable wins over a file in
 * SECRETS_DIR; a file wins over the default. Throws CONFIG_INVALID naming the setting, never
 * echoing a value.
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const cwd = options.cwd ?? process.cwd();
  const descriptors = providerDescriptors();
  const providerTrees = Object.fromEntries(descriptors.map((d) => [d.name, providerSettings(d)]));
  const known = new Map<string, Setting<unknown>>();
  for (const s of [...collect(SETTINGS), ...Object.values(providerTrees).flatMap((t) => collect(t as SettingsTree))]) known.set(s.env, s);

  const fromFiles = new Set<string>();
  const raw = options.values ? new Map(Object.entries(options.values)) : readSources(options.env ?? process.env, known, fromFiles);
  const parsed = new Map<string, unknown>();
  for (const [env, value] of raw) {
    const s = known.get(env);
    if (!s) throw new RpaError('CONFIG_INVALID', `${env}: unknown setting`, { field: env });
    const result = s.parser.safeParse(value.trim());
    if (!result.success) throw new RpaError('CONFIG_INVALID', `${env}: ${result.error.issues[0]?.message ?? 'invalid'}`, { field: env });
    parsed.set(env, result.data);
  }
  const valueOf = <T>(s: Setting<T>): T => (parsed.has(s.env) ? (parsed.get(s.env) as T) : typeof s.fallback === 'function' ? (s.fallback as () => T)() : s.fallback);
  const settings = build(SETTINGS, valueOf) as Settings;

  const providers: Record<string, ProviderConfig> = {};
  for (const d of descriptors) {
    const tree = providerTrees[d.name]!;
    const url = valueOf(tree.url);
    const practice = url === undefined;
    if (practice && !hasPracticePortal(d.name)) throw new RpaError('CONFIG_INVALID', `${tree.url.env}: required (${d.label} has no practice portal)`, { field: tree.url.env });
    const need = (s: Setting<string | undefined> | undefined, fallback: string | undefined): string => {
      const value = s ? valueOf(s) ?? (practice ? fallback : undefined) : undefined;
      if (value === undefined) throw new RpaError('CONFIG_INVALID', `${s?.env}: required when ${tree.url.env} is set`, { field: s?.env });
      return value;
    };
    providers[d.name] = {
      descriptor: d,
      url,
      practice,
      login: need(tree.login, d.practiceAccount.login),
      password: need(tree.password, d.practiceAccount.password),
      totpSecret: d.needsTotp ? need(tree.totpSecret, d.practiceAccount.totpSecret) : undefined,
      totpLookaheadSteps: tree.totpLookaheadSteps ? valueOf(tree.totpLookaheadSteps) : 0,
      maxSessions: valueOf(tree.maxSessions),
      pagesPerSession: valueOf(tree.pagesPerSession),
      driftThreshold: valueOf(tree.driftThreshold),
      windows: configuredWindows(valueOf(tree.timeZone), valueOf(tree.businessHours), valueOf(tree.maintenanceWindows), {
        hours: tree.businessHours.env,
        zone: tree.timeZone.env,
        maintenance: tree.maintenanceWindows.env,
      }),
      practicePort: valueOf(tree.practicePort),
    };
  }

  const real = Object.values(providers).filter((p) => !p.practice);
  if (real.length > 0 && settings.callbackSecret === undefined) {
    throw new RpaError(
      'CONFIG_INVALID',
      `CALLBACK_SECRET: required once a real portal URL is set (${real.map((p) => `${p.descriptor.name.toUpperCase()}_URL`).join(', ')}); the practice value is published`,
      { field: 'CALLBACK_SECRET' },
    );
  }
  const valkey = valkeyEndpointOf(settings);
  if (settings.evidence.store === 's3') {
    const s3 = SETTINGS.evidence.s3;
    for (const s of [s3.bucket, s3.accessKeyId, s3.secretAccessKey]) {
      if (valueOf(s) === undefined) throw new RpaError('CONFIG_INVALID', `${s.env}: required with EVIDENCE_STORE=s3`, { field: s.env });
    }
  }
  const dataDir = resolve(cwd, settings.dataDir);
  const rest: Omit<Settings, ValkeySettingName> & Partial<Settings> = { ...settings };
  for (const name of VALKEY_SETTING_NAMES) delete rest[name];
  const config: Config = {
    ...rest,
    valkey,
    dataDir,
    evidenceDir: resolve(cwd, settings.evidenceDir ?? join(dataDir, 'evidence')),
    callbackSecret: settings.callbackSecret ?? PRACTICE_CALLBACK_SECRET,
    providers,
  };
  deepFreeze(config);
  sources.set(config, Object.freeze(Object.fromEntries(raw)));
  // A child loads from its parent's values: it follows the same files as the parent did.
  const fileBacked = options.values ? new Set(options.fromFiles ?? []) : fromFiles;
  liveFromFiles.set(
    config,
    [...known.values()].filter((s) => s.live && fileBacked.has(s.env)).map((s) => ({ env: s.env, parse: (text: string) => String(s.parser.parse(text)) })),
  );
  return config;
}

function configuredWindows(timeZone: string, hours: string | undefined, maintenance: string | undefined, fields: { hours: string; zone: string; maintenance: string }): ProviderWindows {
  return {
    timeZone,
    businessHours: hours === undefined ? undefined : parseBusinessHours(hours, timeZone, fields),
    maintenance: maintenance === undefined ? [] : parseMaintenanceText(maintenance, timeZone, fields.maintenance),
  };
}

/**
 * RPA_PROVIDER_MODULES from the environment, read before the configuration: the plugins it
 * names must be registered first, since they bring settings of their own.
 */
export function providerModulePaths(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.RPA_PROVIDER_MODULES ?? '').split(',').map((path) => path.trim()).filter(Boolean);
}

/** The setting texts `config` was loaded from (secrets included: hand them only to our own children). */
export function configSources(config: Config): Readonly<Record<string, string>> {
  const values = sources.get(config);
  if (!values) throw new RpaError('INTERNAL', 'this configuration was not made by loadConfig');
  return values;
}

/** The live settings of `config` that follow a SECRETS_DIR file, with their parsers. */
export function liveSettingSources(config: Config): Array<{ env: string; parse: (text: string) => string }> {
  return liveFromFiles.get(config) ?? [];
}

function readSources(env: NodeJS.ProcessEnv, known: Map<string, Setting<unknown>>, fromFiles: Set<string>): Map<string, string> {
  const raw = new Map<string, string>();
  const dir = env.SECRETS_DIR;
  if (dir) {
    const byFile = new Map([...known.keys()].map((k) => [settingFileName(k), k]));
    for (const [file, value] of readSecretsDir(dir)) {
      const key = byFile.get(file);
      if (!key) throw new RpaError('CONFIG_INVALID', `SECRETS_DIR: unknown setting file "${file}"`, { field: file });
      raw.set(key, value);
      fromFiles.add(key);
    }
  }
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (known.has(key)) {
      // An empty variable is "not set", except a list that may be set to nothing.
      if (value === '' && key !== 'CALLBACK_ALLOW_HOSTS') continue;
      raw.set(key, value);
      fromFiles.delete(key);
    } else if (ownedPrefixes().some((p) => key.startsWith(p))) {
      throw new RpaError('CONFIG_INVALID', `${key}: unknown setting`, { field: key });
    }
  }
  return raw;
}

function ownedPrefixes(): string[] {
  return [...OWNED_PREFIXES, ...providerDescriptors().map((d) => `${d.name.toUpperCase()}_`)];
}

function collect(tree: SettingsTree): Setting<unknown>[] {
  return Object.values(tree).flatMap((node) => (node === undefined ? [] : isSetting(node) ? [node] : collect(node)));
}

function build(tree: SettingsTree, valueOf: <T>(s: Setting<T>) => T): Record<string, unknown> {
  return Object.fromEntries(Object.entries(tree).map(([key, node]) => [key, isSetting(node) ? valueOf(node) : build(node, valueOf)]));
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) if (!(child instanceof RegExp)) deepFreeze(child);
  }
  return value;
}
