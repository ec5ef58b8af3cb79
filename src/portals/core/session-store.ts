import { randomBytes } from 'node:crypto';

/** One signed-in session. */
export interface Session {
  id: string;
  login: string;
  createdAt: number;
  lastSeenAt: number;
}

/**
 * Cookie sessions with a sliding idle timeout. Expiry is checked lazily on every access, so
 * the store needs no timer; `idleMs` is read on each check so a config change applies to
 * sessions that already exist.
 */
export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly idleMs: () => number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Live sessions after dropping expired ones. */
  liveCount(): number {
    this.prune();
    return this.sessions.size;
  }

  hasRoom(maxSessions: number): boolean {
    return this.liveCount() < maxSessions;
  }

  create(login: string): Session {
    const at = this.now();
    const session: Session = { id: randomBytes(24).toString('hex'), login, createdAt: at, lastSeenAt: at };
    this.sessions.set(session.id, session);
    return session;
  }

  /** The live session with this id, its idle clock restarted; undefined if unknown or expired. */
  touch(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const session = this.sessions.get(id);
    if (!session) return undefined;
    const at = this.now();
    if (at - session.lastSeenAt >= this.idleMs()) {
      this.sessions.delete(id);
      return undefined;
    }
    session.lastSeenAt = at;
    return session;
  }

  destroy(id: string | undefined): void {
    if (id) this.sessions.delete(id);
  }

  clear(): void {
    this.sessions.clear();
  }

  private prune(): void {
    const at = this.now();
    const idle = this.idleMs();
    for (const [id, s] of this.sessions) if (at - s.lastSeenAt >= idle) this.sessions.delete(id);
  }
}

/**
 * Short-lived state between login steps (Octotel's password → OTP, Evotel's username →
 * password), keyed by a random cookie value, with an absolute lifetime.
 */
export class PreAuthStore<T extends object> {
  private readonly entries = new Map<string, { expiresAt: number; value: T }>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  create(value: T): string {
    this.prune();
    const id = randomBytes(24).toString('hex');
    this.entries.set(id, { expiresAt: this.now() + this.ttlMs, value });
    return id;
  }

  get(id: string | undefined): T | undefined {
    if (!id) return undefined;
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (this.now() >= entry.expiresAt) {
      this.entries.delete(id);
      return undefined;
    }
    return entry.value;
  }

  delete(id: string | undefined): void {
    if (id) this.entries.delete(id);
  }

  clear(): void {
    this.entries.clear();
  }

  private prune(): void {
    const at = this.now();
    for (const [id, e] of this.entries) if (at >= e.expiresAt) this.entries.delete(id);
  }
}
