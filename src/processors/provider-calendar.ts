import { windowState, windowsFromJson, type ProviderWindows, type WindowState } from '../calendar/provider-windows.js';
import type { ProviderConfig } from '../config/config.js';
import { providerPace, type ProviderPace } from '../db/batch-store.js';
import type { Db } from '../db/database.js';
import { allStoredWindows } from '../db/provider-store.js';
import { coerceError } from '../errors/coerce-error.js';
import type { Logger } from '../logger.js';

export interface EffectiveWindows {
  windows: ProviderWindows;
  /** `operator`: set through PUT /providers/:name/windows; `config`: the provider's settings. */
  source: 'config' | 'operator';
}

/** How much of a batch may start now. */
export type BatchFit =
  | { kind: 'all' }
  /** The first `jobs` can finish before the provider closes at `closesAt`; the rest wait until `opensAt`. */
  | { kind: 'some'; jobs: number; closesAt: Date; opensAt: Date }
  /** None can: closed now, or closing before even one job could finish. */
  | { kind: 'none'; opensAt: Date; reason: string };

/**
 * Each provider's maintenance windows and business hours as they apply now: an operator's
 * (kept in Postgres, read again every few seconds, so every process follows a PUT) or else the
 * configured ones. Answers whether a batch may start, and how much of it fits before the
 * provider closes, from its measured pace.
 */
export class ProviderCalendar {
  private cache?: { at: number; stored: Map<string, Record<string, unknown>> };
  private readonly paces = new Map<string, { at: number; pace: ProviderPace }>();

  constructor(
    private readonly db: Db,
    private readonly providers: Readonly<Record<string, ProviderConfig>>,
    private readonly logger: Logger,
    private readonly refreshMs = 5_000,
  ) {}

  async windows(provider: string): Promise<EffectiveWindows> {
    const config = this.providers[provider];
    if (!config) throw new Error(`unknown provider ${provider}`);
    const stored = (await this.stored()).get(provider);
    if (stored) {
      try {
        return { windows: windowsFromJson(stored, config.windows.timeZone), source: 'operator' };
      } catch (thrown) {
        this.logger.error({ provider, err: coerceError(thrown).toJSON() }, 'the stored windows do not parse; the configured ones apply');
      }
    }
    return { windows: config.windows, source: 'config' };
  }

  async state(provider: string, now = new Date()): Promise<WindowState> {
    return windowState((await this.windows(provider)).windows, now);
  }

  /** Until when the provider's batches are held by its windows; 0 when it is open. */
  async heldUntil(provider: string, now = new Date()): Promise<number> {
    const state = await this.state(provider, now);
    return state.open ? 0 : state.until.getTime();
  }

  /**
   * How many of `jobs` may start now so that the batch ends before the provider next closes,
   * when it runs `pages` jobs at once (pages of one session: each job takes its measured time).
   */
  async fit(provider: string, jobs: number, pages = 1, now = new Date()): Promise<BatchFit> {
    const { windows } = await this.windows(provider);
    const state = windowState(windows, now);
    if (!state.open) return { kind: 'none', opensAt: state.until, reason: state.reason === 'maintenance' ? `in a maintenance window${state.label ? ` (${state.label})` : ''}` : 'outside its business hours' };
    if (!state.closesAt) return { kind: 'all' };
    const pace = await this.pace(provider);
    const available = state.closesAt.getTime() - now.getTime() - pace.loginMs;
    const fits = Math.max(0, Math.floor(available / Math.max(1, pace.perJobMs)) * Math.max(1, Math.floor(pages)));
    if (fits >= jobs) return { kind: 'all' };
    const after = windowState(windows, state.closesAt);
    const opensAt = after.open ? state.closesAt : after.until;
    if (fits === 0) {
      return { kind: 'none', opensAt, reason: `it closes at ${state.closesAt.toISOString()} (${state.closesFor}), before a batch could finish (${Math.round(pace.loginMs / 1000)} s login, ${Math.round(pace.perJobMs / 1000)} s a job)` };
    }
    return { kind: 'some', jobs: fits, closesAt: state.closesAt, opensAt };
  }

  /**
   * How long a job joining the provider's queue now would likely wait before it starts: until a
   * window ends, then the jobs ahead of it on `sessions` sessions of its `<P>_PAGES_PER_SESSION`
   * pages, and a login.
   */
  async expectedWaitMs(provider: string, waiting: number, sessions: number, now = new Date()): Promise<number> {
    const state = await this.state(provider, now);
    const closed = state.open ? 0 : state.until.getTime() - now.getTime();
    const pace = await this.pace(provider);
    const pages = this.providers[provider]?.pagesPerSession ?? 1;
    return closed + pace.loginMs + (waiting * pace.perJobMs) / (Math.max(1, sessions) * Math.max(1, pages));
  }

  private async pace(provider: string): Promise<ProviderPace> {
    const cached = this.paces.get(provider);
    if (cached && Date.now() - cached.at < 60_000) return cached.pace;
    const pace = await providerPace(this.db, provider, this.providers[provider]?.pagesPerSession ?? 1);
    this.paces.set(provider, { at: Date.now(), pace });
    return pace;
  }

  /** Forgets what was read, so that a PUT in this process applies at once. */
  invalidate(): void {
    this.cache = undefined;
  }

  private async stored(): Promise<Map<string, Record<string, unknown>>> {
    if (this.cache && Date.now() - this.cache.at < this.refreshMs) return this.cache.stored;
    const stored = await allStoredWindows(this.db);
    this.cache = { at: Date.now(), stored };
    return stored;
  }
}
