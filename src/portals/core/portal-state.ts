import { setTimeout as sleep } from 'node:timers/promises';
import { AnswerFaults } from './answer-faults.js';
import { CircuitBook } from './circuit-book.js';
import type { PortalCircuitFormat } from './contract.js';
import { DEFAULT_PORTAL_CONFIG, type PortalConfig } from './portal-config.js';
import { PortalStats } from './portal-stats.js';
import { SessionStore } from './session-store.js';

/**
 * Everything one practice portal keeps in memory: config, stats, circuits, sessions and faults.
 * Portal-specific state (TOTP steps, pre-auths, the MetroFiber notice) registers a reset
 * hook so `POST /__sandbox/reset` clears it too.
 */
export class PortalState {
  config: PortalConfig = { ...DEFAULT_PORTAL_CONFIG };
  stats = new PortalStats();
  readonly sessions: SessionStore;
  readonly circuits: CircuitBook;
  /** The `/__sandbox/faults` knob: cancellations whose answer is lost (not part of SPEC.md). */
  readonly answerFaults = new AnswerFaults();
  private readonly resetHooks: Array<() => void> = [];

  constructor(
    readonly name: string,
    format: PortalCircuitFormat,
  ) {
    this.circuits = new CircuitBook(format.pattern, format.prefix);
    this.sessions = new SessionStore(() => this.config.session_idle_s * 1000);
  }

  onReset(hook: () => void): void {
    this.resetHooks.push(hook);
  }

  reset(): void {
    this.config = { ...DEFAULT_PORTAL_CONFIG };
    this.stats = new PortalStats();
    this.sessions.clear();
    this.circuits.reset();
    this.answerFaults.reset();
    for (const hook of this.resetHooks) hook();
  }

  statsDocument(): Record<string, unknown> {
    return this.stats.toJSON(this.sessions.liveCount());
  }

  /** Whether another session may start now. */
  hasSessionRoom(): boolean {
    return this.sessions.hasRoom(this.config.max_sessions);
  }

  /** The configured delay of a successful final login step (slow single sign-on). */
  async loginDelay(): Promise<void> {
    const ms = this.config.login_delay_ms;
    if (ms > 0) await sleep(ms, undefined, { ref: false });
  }
}
