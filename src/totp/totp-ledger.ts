/**
 * Where the last TOTP step handed out per provider account is kept beyond Valkey (Postgres:
 * src/db/totp-step-store.ts), so that a wiped or restarted Valkey cannot make the manager hand
 * out a step a second time (RFC 6238 §5.2: a code is accepted once).
 */
export interface TotpLedger {
  /** The last step handed out for this account, if any. */
  lastStep(provider: string, accountHash: string): Promise<number | undefined>;
  /** Records `step` as handed out; false when it (or a later step) already was. */
  claim(provider: string, accountHash: string, step: number): Promise<boolean>;
}
