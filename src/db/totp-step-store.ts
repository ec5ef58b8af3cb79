import { sql } from 'kysely';
import type { TotpLedger } from '../totp/totp-ledger.js';
import type { Db } from './database.js';

/** The TOTP steps handed out, per provider account (by its hash), in Postgres. */
export function totpStepLedger(db: Db): TotpLedger {
  return {
    async lastStep(provider, accountHash) {
      const row = await db.selectFrom('totp_steps').select('last_step').where('provider', '=', provider).where('account_hash', '=', accountHash).executeTakeFirst();
      return row ? Number(row.last_step) : undefined;
    },
    async claim(provider, accountHash, step) {
      // Steps only go forward: one that is not above the last handed out was used, or skipped for good.
      const { rows } = await sql<{ last_step: string }>`
        INSERT INTO totp_steps (provider, account_hash, last_step) VALUES (${provider}, ${accountHash}, ${step})
        ON CONFLICT (provider, account_hash) DO UPDATE SET last_step = EXCLUDED.last_step, updated_at = now()
          WHERE totp_steps.last_step < EXCLUDED.last_step
        RETURNING last_step
      `.execute(db);
      return rows.length > 0;
    },
  };
}
