import { sql, type Selectable } from 'kysely';
import type { Db } from './database.js';
import type { ProviderStatesTable } from './schema.js';

export type ProviderStateRow = Selectable<ProviderStatesTable>;

/** Why a provider is paused; each has an operator-visible meaning (docs/operations.md). */
export type PauseReason = 'login_refused' | 'config_invalid' | 'contract_drift' | 'operator';

export interface ProviderPause {
  provider: string;
  reason: PauseReason;
  message: string;
  since: Date;
}

async function event(db: Db, provider: string, kind: string, actor: string, details: Record<string, unknown>): Promise<void> {
  await db.insertInto('provider_events').values({ provider, kind, actor, details: JSON.stringify(details) }).execute();
}

/** An entry in a provider's history (paused, resumed, a refused resume, windows set). */
export async function recordProviderEvent(db: Db, provider: string, kind: string, actor: string, details: Record<string, unknown>): Promise<void> {
  await event(db, provider, kind, actor, details);
}

export async function providerStates(db: Db): Promise<ProviderStateRow[]> {
  return db.selectFrom('provider_states').selectAll().orderBy('provider').execute();
}

/** The pause of a provider, or undefined when it runs. */
export async function findPause(db: Db, provider: string): Promise<ProviderPause | undefined> {
  const row = await db.selectFrom('provider_states').selectAll().where('provider', '=', provider).where('paused_reason', 'is not', null).executeTakeFirst();
  return row ? { provider, reason: row.paused_reason as PauseReason, message: row.paused_message ?? '', since: row.paused_since ?? row.updated_at } : undefined;
}

/** Pauses a provider (no-op when it is paused already, keeping the first reason). True when this call paused it. */
export async function pauseProvider(db: Db, provider: string, pause: { reason: PauseReason; message: string; actor: string; details?: Record<string, unknown> }): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    await trx.insertInto('provider_states').values({ provider }).onConflict((oc) => oc.column('provider').doNothing()).execute();
    const updated = await trx
      .updateTable('provider_states')
      .set({ paused_reason: pause.reason, paused_message: pause.message.slice(0, 1000), paused_since: new Date(), updated_at: new Date() })
      .where('provider', '=', provider)
      .where('paused_reason', 'is', null)
      .executeTakeFirst();
    const paused = Number(updated.numUpdatedRows) > 0;
    if (paused) await event(trx, provider, 'paused', pause.actor, { reason: pause.reason, message: pause.message.slice(0, 1000), ...pause.details });
    return paused;
  });
}

/** Resumes a paused provider and forgets its refused logins. False when it was not paused. */
export async function resumeProvider(db: Db, provider: string, actor: string, why: string): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable('provider_states')
      .set({ paused_reason: null, paused_message: null, paused_since: null, login_refusals: 0, credentials_mark: null, contract_mismatches: 0, updated_at: new Date() })
      .where('provider', '=', provider)
      .where('paused_reason', 'is not', null)
      .returning('provider')
      .executeTakeFirst();
    if (row) await event(trx, provider, 'resumed', actor, { why });
    return row !== undefined;
  });
}

/**
 * Counts a refused login (bad credentials, a locked account) against the credentials it was
 * tried with (`mark`, a fingerprint, not the credentials): refusals of other credentials do not
 * count. At `threshold` refusals the provider is paused until an operator resumes it or its
 * credentials change. Returns the count and whether this refusal paused it.
 */
export async function recordLoginRefusal(db: Db, provider: string, mark: string, threshold: number, message: string): Promise<{ refusals: number; paused: boolean }> {
  return db.transaction().execute(async (trx) => {
    const row = await sql<{ login_refusals: number; paused_reason: string | null }>`
      INSERT INTO provider_states (provider, login_refusals, credentials_mark) VALUES (${provider}, 1, ${mark})
      ON CONFLICT (provider) DO UPDATE SET
        login_refusals = CASE WHEN provider_states.credentials_mark IS DISTINCT FROM ${mark} THEN 1 ELSE provider_states.login_refusals + 1 END,
        credentials_mark = ${mark},
        updated_at = now()
      RETURNING login_refusals, paused_reason
    `.execute(trx);
    const { login_refusals: refusals, paused_reason } = row.rows[0]!;
    await event(trx, provider, 'login_refused', 'batch-runner', { refusals, threshold, message: message.slice(0, 300) });
    let paused = false;
    if (refusals >= threshold && paused_reason === null) {
      const reason = `${refusals} refused logins with the same credentials; fix the account or the secret, then resume (rpa providers resume ${provider})`;
      await trx
        .updateTable('provider_states')
        .set({ paused_reason: 'login_refused', paused_message: `${reason}: ${message}`.slice(0, 1000), paused_since: new Date(), updated_at: new Date() })
        .where('provider', '=', provider)
        .execute();
      await event(trx, provider, 'paused', 'batch-runner', { reason: 'login_refused', refusals });
      paused = true;
    }
    return { refusals, paused };
  });
}

/** A login went through: earlier refusals no longer count. */
export async function clearLoginRefusals(db: Db, provider: string): Promise<void> {
  await db.updateTable('provider_states').set({ login_refusals: 0, updated_at: new Date() }).where('provider', '=', provider).where('login_refusals', '>', 0).execute();
}

/**
 * A provider paused for refused logins resumes by itself once its credentials are not the ones
 * that were refused (a rotated Secret, a fixed setting). True when it resumed.
 */
export async function resumeIfCredentialsChanged(db: Db, provider: string, mark: string): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable('provider_states')
      .set({ paused_reason: null, paused_message: null, paused_since: null, login_refusals: 0, credentials_mark: null, updated_at: new Date() })
      .where('provider', '=', provider)
      .where('paused_reason', '=', 'login_refused')
      .where('credentials_mark', 'is distinct from', mark)
      .returning('provider')
      .executeTakeFirst();
    if (row) await event(trx, provider, 'resumed', 'credentials changed', { why: 'the credentials are not the ones that were refused' });
    return row !== undefined;
  });
}

/**
 * Counts a PAGE_CONTRACT_MISMATCH answer of the provider's portal. At `threshold` in a row (no
 * page that matched in between) the provider is paused for contract drift, its event carrying
 * `evidence` (screenshot paths, the selectors that failed, a DOM snippet). Returns the count
 * and whether this answer paused it.
 */
export async function recordContractMismatch(
  db: Db,
  provider: string,
  threshold: number,
  evidence: Record<string, unknown>,
): Promise<{ mismatches: number; paused: boolean }> {
  return db.transaction().execute(async (trx) => {
    const row = await sql<{ contract_mismatches: number; paused_reason: string | null }>`
      INSERT INTO provider_states (provider, contract_mismatches) VALUES (${provider}, 1)
      ON CONFLICT (provider) DO UPDATE SET contract_mismatches = provider_states.contract_mismatches + 1, updated_at = now()
      RETURNING contract_mismatches, paused_reason
    `.execute(trx);
    const { contract_mismatches: mismatches, paused_reason } = row.rows[0]!;
    await event(trx, provider, 'contract_mismatch', 'batch-runner', { mismatches, threshold, ...evidence });
    if (mismatches < threshold || paused_reason !== null) return { mismatches, paused: false };
    const message = `${mismatches} pages in a row did not match the portal contract (${String(evidence.message ?? 'PAGE_CONTRACT_MISMATCH')}); its jobs wait. Once the automation matches the portal again: rpa providers resume ${provider}`;
    await trx
      .updateTable('provider_states')
      .set({ paused_reason: 'contract_drift', paused_message: message.slice(0, 1000), paused_since: new Date(), updated_at: new Date() })
      .where('provider', '=', provider)
      .execute();
    await event(trx, provider, 'paused', 'batch-runner', { reason: 'contract_drift', mismatches, ...evidence });
    return { mismatches, paused: true };
  });
}

/** A page matched the contract: earlier mismatches no longer count as a run of them. */
export async function clearContractMismatches(db: Db, provider: string): Promise<void> {
  await db.updateTable('provider_states').set({ contract_mismatches: 0, updated_at: new Date() }).where('provider', '=', provider).where('contract_mismatches', '>', 0).execute();
}

/** The windows an operator set for a provider (its WindowsJson), or null when the configured ones apply. */
export async function storedWindows(db: Db, provider: string): Promise<Record<string, unknown> | null> {
  const row = await db.selectFrom('provider_states').select('windows').where('provider', '=', provider).executeTakeFirst();
  return row?.windows ?? null;
}

/** Every provider's operator-set windows (providers without are absent). */
export async function allStoredWindows(db: Db): Promise<Map<string, Record<string, unknown>>> {
  const rows = await db.selectFrom('provider_states').select(['provider', 'windows']).where('windows', 'is not', null).execute();
  return new Map(rows.map((r) => [r.provider, r.windows!]));
}

/** Replaces a provider's windows (null: back to the configured ones), with an event naming who did it. */
export async function storeWindows(db: Db, provider: string, windows: Record<string, unknown> | null, actor: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const json = windows === null ? null : JSON.stringify(windows);
    await trx
      .insertInto('provider_states')
      .values({ provider, windows: json })
      .onConflict((oc) => oc.column('provider').doUpdateSet({ windows: json, updated_at: new Date() }))
      .execute();
    await event(trx, provider, 'windows_set', actor, { windows });
  });
}

export async function providerEvents(db: Db, provider: string, limit = 50) {
  return db.selectFrom('provider_events').selectAll().where('provider', '=', provider).orderBy('id', 'desc').limit(limit).execute();
}

/** Jobs waiting (pending) per provider. */
export async function waitingJobCounts(db: Db): Promise<Map<string, number>> {
  const rows = await db.selectFrom('jobs').select(['provider', sql<number>`count(*)::int`.as('n')]).where('status', '=', 'pending').groupBy('provider').execute();
  return new Map(rows.map((r) => [r.provider, r.n]));
}
