/** Counters a portal reports on `GET /__sandbox/stats` (besides active_sessions, which is live). */
export class PortalStats {
  logins_ok = 0;
  logins_failed = 0;
  totp_ok = 0;
  totp_rejected_reused = 0;
  totp_rejected_invalid = 0;
  requests = 0;
  errors_injected = 0;
  duplicate_cancel_attempts = 0;
  readonly cancellations = new Map<string, number>();

  countCancellation(circuitNumber: string): void {
    this.cancellations.set(circuitNumber, (this.cancellations.get(circuitNumber) ?? 0) + 1);
  }

  /** The stats document in the contract's field order. */
  toJSON(activeSessions: number): Record<string, unknown> {
    return {
      logins_ok: this.logins_ok,
      logins_failed: this.logins_failed,
      totp_ok: this.totp_ok,
      totp_rejected_reused: this.totp_rejected_reused,
      totp_rejected_invalid: this.totp_rejected_invalid,
      active_sessions: activeSessions,
      requests: this.requests,
      errors_injected: this.errors_injected,
      cancellations: Object.fromEntries(this.cancellations),
      duplicate_cancel_attempts: this.duplicate_cancel_attempts,
    };
  }
}
