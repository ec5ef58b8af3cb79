import type { z } from 'zod';

/** A parser from the text of an environment variable or a SECRETS_DIR file to a value. */
export type Parser<T> = z.ZodType<T, z.ZodTypeDef, string>;

/** One setting: where it is read, how it is parsed, its default and what it is for. */
export interface Setting<T> {
  readonly env: string;
  readonly parser: Parser<unknown>;
  /** The value when the setting is not given (a function is called at load time). */
  readonly fallback: T | (() => T);
  readonly description: string;
  /** How the default reads in the settings table, when the value itself would not say it. */
  readonly shownDefault?: string;
  /** Never shown: not in errors, logs or the settings table's defaults. */
  readonly secret: boolean;
  /**
   * Re-read when its SECRETS_DIR file changes (a rotated Kubernetes Secret); every other
   * setting is read once at start.
   */
  readonly live: boolean;
  /** Phantom: the type of the parsed value. */
  readonly type?: T;
}

export interface SettingOptions {
  shownDefault?: string;
  secret?: boolean;
  live?: boolean;
}

/** A setting with a default. */
export function setting<T>(env: string, parser: Parser<T>, fallback: T | (() => T), description: string, options: SettingOptions = {}): Setting<T> {
  return Object.freeze({ env, parser, fallback, description, shownDefault: options.shownDefault, secret: options.secret ?? false, live: options.live ?? false });
}

/** A setting that may be left unset. */
export function optional<T>(env: string, parser: Parser<T>, description: string, options: SettingOptions = {}): Setting<T | undefined> {
  return setting<T | undefined>(env, parser, undefined, description, { shownDefault: options.shownDefault ?? '(unset)', ...options });
}

/** A tree of settings: the shape of the configuration. */
export interface SettingsTree {
  readonly [key: string]: Setting<unknown> | SettingsTree;
}

/** The configuration a tree of settings loads into. */
export type ValuesOf<S> = { readonly [K in keyof S]: S[K] extends Setting<infer T> ? T : ValuesOf<S[K]> };

export function isSetting(node: unknown): node is Setting<unknown> {
  return typeof node === 'object' && node !== null && 'env' in node && 'parser' in node;
}

/** Every setting of a tree, depth first. */
export function settingsOf(tree: SettingsTree): Setting<unknown>[] {
  return Object.values(tree).flatMap((node) => (isSetting(node) ? [node] : settingsOf(node)));
}
