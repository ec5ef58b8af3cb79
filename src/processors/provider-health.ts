import type { Db } from '../db/database.js';
import { providerStates, waitingJobCounts } from '../db/provider-store.js';
import type { BreakerState } from './login-circuit-breaker.js';
import type { ProviderCalendar } from './provider-calendar.js';

export interface ProviderHealth {
  /**
   * `running`; `paused` until an operator (or new credentials) resumes it; `cooling_down` after
   * a failed login; `closed` in a maintenance window or outside its business hours.
   */
  state: 'running' | 'paused' | 'cooling_down' | 'closed';
  /** Why it is paused (login_refused, config_invalid, contract_drift, operator) or closed (maintenance, outside_business_hours). */
  reason?: string;
  message?: string;
  since?: string;
  /** When a cool-down or a window ends. */
  until?: string;
  refused_logins: number;
  /** PAGE_CONTRACT_MISMATCH answers in a row. */
  contract_mismatches: number;
  waiting_jobs: number;
  /** When it next closes for a window (within a week), when it is open now. */
  closes_at?: string;
}

/**
 * Each provider's state for /health, GET /providers, `rpa providers status` and /metrics.
 * `breakers`: each provider's login breaker (closed ones when Valkey is not asked).
 */
export async function providerHealth(db: Db, breakers: BreakerState[], calendar?: ProviderCalendar): Promise<Record<string, ProviderHealth>> {
  const states = new Map((await providerStates(db)).map((s) => [s.provider, s]));
  const waiting = await waitingJobCounts(db);
  const entries = await Promise.all(
    breakers.map(async (b): Promise<[string, ProviderHealth]> => {
      const row = states.get(b.provider);
      const base = { refused_logins: row?.login_refusals ?? 0, contract_mismatches: row?.contract_mismatches ?? 0, waiting_jobs: waiting.get(b.provider) ?? 0 };
      if (row?.paused_reason) return [b.provider, { state: 'paused', reason: row.paused_reason, message: row.paused_message ?? undefined, since: row.paused_since?.toISOString(), ...base }];
      const window = calendar ? await calendar.state(b.provider) : undefined;
      if (window && !window.open) {
        const message = window.reason === 'maintenance' ? `in a maintenance window${window.label ? ` (${window.label})` : ''}` : 'outside its business hours';
        return [b.provider, { state: 'closed', reason: window.reason, message, until: window.until.toISOString(), ...base }];
      }
      const closes = window?.open && window.closesAt ? { closes_at: window.closesAt.toISOString() } : {};
      if (b.open) return [b.provider, { state: 'cooling_down', until: new Date(b.openUntil).toISOString(), ...base, ...closes }];
      return [b.provider, { state: 'running', ...base, ...closes }];
    }),
  );
  return Object.fromEntries(entries);
}
