import { createHash } from 'node:crypto';

/**
 * Valkey key names of the TOTP manager. Every key starts with the hash tag `{totp}` so a
 * Valkey Cluster keeps them in one slot (the reservation script touches several at once).
 * Accounts appear only as a hash; secrets never appear at all.
 */
export class TotpKeys {
  private readonly base: string;

  /** `prefix` separates deployments or tests sharing one server: `{totp}:<prefix>:…`. */
  constructor(prefix?: string) {
    this.base = prefix ? `{totp}:${prefix}` : '{totp}';
  }

  /** Reservation of one time step of one provider account. */
  step(provider: string, account: string, step: number): string {
    return `${this.base}:step:${provider}:${accountHash(provider, account)}:${step}`;
  }

  /** Hash of one UTC day's counters, fields `<provider>:<event>`. */
  counters(day: string): string {
    return `${this.base}:counters:${day}`;
  }

  /** Pattern matching every key under this prefix (for inspection and clean-up). */
  pattern(): string {
    return `${this.base}:*`;
  }
}

/** A stable, non-reversible id of a provider account, for keys and log lines. */
export function accountHash(provider: string, account: string): string {
  return createHash('sha256').update(`${provider}\0${account}`).digest('hex').slice(0, 24);
}
