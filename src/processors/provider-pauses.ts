import { createHmac } from 'node:crypto';
import type { ProviderConfig } from '../config/config.js';
import type { Credentials } from '../config/live-settings.js';
import type { Db } from '../db/database.js';
import { clearLoginRefusals, findPause, pauseProvider, recordLoginRefusal, resumeIfCredentialsChanged, type PauseReason, type ProviderPause } from '../db/provider-store.js';
import type { RpaError } from '../errors/failures.js';
import type { Logger } from '../logger.js';

/**
 * A fingerprint of a provider's credentials: tells "the same password again" from "a new one"
 * without storing anything that helps guess them (an HMAC keyed by the provider, cut to 64 bits).
 */
export function credentialsMark(provider: string, credentials: Credentials): string {
  return createHmac('sha256', `rpa-credentials:${provider}`)
    .update(`${credentials.login}\0${credentials.password}\0${credentials.totpSecret ?? ''}`)
    .digest('hex')
    .slice(0, 16);
}

/**
 * Providers paused until an operator resumes them (or, for refused logins, until the credentials
 * change): a refused login is never retried on a timer with the same password, since a real FNO
 * locks the account after a few. Kept in Postgres, so every worker sees the same state and a
 * Valkey wipe loses none of it.
 */
export class ProviderPauses {
  constructor(
    private readonly db: Db,
    private readonly refusalThreshold: number,
    /** The credentials a provider logs in with now (they may be rotated). */
    private readonly credentials: (config: ProviderConfig) => Credentials,
    private readonly logger: Logger,
  ) {}

  private mark(config: ProviderConfig): string {
    return credentialsMark(config.descriptor.name, this.credentials(config));
  }

  /**
   * The pause of this provider, if any. A pause for refused logins whose credentials have since
   * changed is lifted here.
   */
  async pausedFor(config: ProviderConfig): Promise<ProviderPause | undefined> {
    const provider = config.descriptor.name;
    const pause = await findPause(this.db, provider);
    if (pause?.reason === 'login_refused' && (await resumeIfCredentialsChanged(this.db, provider, this.mark(config)))) {
      this.logger.warn({ provider }, `${provider}: resumed, its credentials changed since its logins were refused`);
      return undefined;
    }
    return pause;
  }

  async loginRefused(config: ProviderConfig, error: RpaError): Promise<void> {
    const provider = config.descriptor.name;
    const { refusals, paused } = await recordLoginRefusal(this.db, provider, this.mark(config), this.refusalThreshold, error.message);
    if (paused) {
      this.logger.error(
        { provider, refusals, code: error.code },
        `PROVIDER PAUSED: ${provider} refused ${refusals} logins with the same credentials; no login is tried again until they change or an operator runs \`rpa providers resume ${provider}\``,
      );
    } else {
      this.logger.warn({ provider, refusals, threshold: this.refusalThreshold, code: error.code }, 'login refused');
    }
  }

  async loginSucceeded(config: ProviderConfig): Promise<void> {
    await clearLoginRefusals(this.db, config.descriptor.name);
  }

  async pause(provider: string, reason: PauseReason, message: string, details?: Record<string, unknown>): Promise<void> {
    if (await pauseProvider(this.db, provider, { reason, message, actor: 'batch-runner', details })) {
      this.logger.error({ provider, reason }, `PROVIDER PAUSED: ${provider} (${reason}): ${message}`);
    }
  }
}
