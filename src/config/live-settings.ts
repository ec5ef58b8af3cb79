import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { coerceError } from '../errors/coerce-error.js';
import type { Logger } from '../logger.js';
import type { Config, ProviderConfig } from './config.js';
import { configSources, liveSettingSources } from './config.js';
import { settingFileName } from './secrets-dir.js';

/** A provider's account as it is now (its password or TOTP secret may have been rotated). */
export interface Credentials {
  login: string;
  password: string;
  totpSecret?: string;
}

/**
 * The settings that may change while the system runs: the secrets marked `live` in the schema
 * (portal passwords, TOTP secrets, the callback secret) when they come from a SECRETS_DIR file.
 * A kubelet updates a mounted Secret's files in place; the next read here sees the new value,
 * so the next login uses the new password without a restart. The log says which setting
 * changed, never its value. Every other setting is read once at start.
 */
export class LiveSettings {
  private readonly values = new Map<string, string>();
  private readonly files: Array<{ env: string; path: string; parse: (text: string) => string }>;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
  ) {
    this.files = config.secretsDir ? liveSettingSources(config).map((s) => ({ ...s, path: join(config.secretsDir!, settingFileName(s.env)) })) : [];
    const sources = configSources(config);
    for (const { env } of this.files) if (sources[env] !== undefined) this.values.set(env, sources[env]!.trim());
  }

  /** Names of the settings that follow their file; for the start-up log. */
  liveNames(): string[] {
    return this.files.map((f) => f.env);
  }

  /** Re-reads the files every `intervalMs` (a changed value is logged by name). */
  watch(intervalMs = 2_000): this {
    this.timer ??= setInterval(() => this.refresh(), intervalMs);
    this.timer.unref();
    return this;
  }

  /** Reads every live file now; returns the names whose value changed. */
  refresh(): string[] {
    const changed: string[] = [];
    for (const file of this.files) {
      let text: string;
      try {
        text = readFileSync(file.path, 'utf8').replace(/\r?\n$/, '').trim();
      } catch {
        continue; // mid-swap (the kubelet replaces a symlink): the next read sees it
      }
      if (text === this.values.get(file.env)) continue;
      try {
        file.parse(text);
      } catch (err) {
        this.logger.error({ setting: file.env, err: coerceError(err).message }, `${file.env} changed to a value that is not valid; keeping the previous one`);
        continue;
      }
      this.values.set(file.env, text);
      changed.push(file.env);
      this.logger.warn({ setting: file.env }, `${file.env} changed; it is used from now on`);
    }
    return changed;
  }

  private current(env: string | undefined, fallback: string | undefined): string | undefined {
    return env !== undefined && this.values.has(env) ? this.values.get(env) : fallback;
  }

  /** The provider's account now. */
  credentials(provider: ProviderConfig): Credentials {
    const p = provider.descriptor.name.toUpperCase();
    return {
      login: provider.login,
      password: this.current(`${p}_PASSWORD`, provider.password)!,
      totpSecret: provider.descriptor.needsTotp ? this.current(`${p}_TOTP_SECRET`, provider.totpSecret) : undefined,
    };
  }

  callbackSecret(): string {
    return this.current('CALLBACK_SECRET', this.config.callbackSecret)!;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
