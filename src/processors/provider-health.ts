import type { Db } from '../db/database.js';
import { providerStates } from '../db/provider-store.js';
import type { BreakerState } from './login-circuit-breaker.js';

export interface ProviderHealth {
  /** `running`; `paused` until an operator (or new credentials) resumes it; `cooling_down` after a failed login. */
  state: 'running' | 'paused' | 'cooling_down';
  reason?: string;
  message?: string;
  since?: string;
  until?: string;
  refused_logins: number;
}

/** Each provider's state for /health, `rpa providers status` and /metrics. */
export async function providerHealth(db: Db, breakers: BreakerState[]): Promise<Record<string, ProviderHealth>> {
  const states = new Map((await providerStates(db)).map((s) => [s.provider, s]));
  return Object.fromEntries(
    breakers.map((b) => {
      const row = states.get(b.provider);
      const refused = row?.login_refusals ?? 0;
      if (row?.paused_reason) return [b.provider, { state: 'paused', reason: row.paused_reason, message: row.paused_message ?? undefined, since: row.paused_since?.toISOString(), refused_logins: refused }];
      if (b.open) return [b.provider, { state: 'cooling_down', until: new Date(b.openUntil).toISOString(), refused_logins: refused }];
      return [b.provider, { state: 'running', refused_logins: refused }];
    }),
  );
}
