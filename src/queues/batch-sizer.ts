import type { Logger } from '../logger.js';
import { chooseBatchSize, type BatchSizeChoice } from './batch-sizing.js';
import type { PortalPaceStore } from './portal-pace.js';

/**
 * A batcher's batch size for one provider, chosen from the portal's measured pace each time the
 * batcher makes batches (batch-sizing.ts), and published for operators when it changes. When the
 * measurements cannot be read (Valkey away) the last choice stands, BATCH_SIZE at first.
 */
export class BatchSizer {
  private last?: BatchSizeChoice;

  constructor(
    private readonly provider: string,
    private readonly cap: number,
    private readonly paces: PortalPaceStore,
    private readonly logger: Logger,
  ) {}

  async size(): Promise<number> {
    try {
      const choice = chooseBatchSize(await this.paces.read(this.provider), this.cap);
      if (choice.size !== this.last?.size || choice.basis !== this.last.basis) {
        await this.paces.publishChoice(this.provider, choice);
        if (this.last) this.logger.info({ provider: this.provider, size: choice.size, basis: choice.basis }, 'batch size changed');
        this.last = choice;
      }
      return choice.size;
    } catch (err) {
      this.logger.debug({ err, provider: this.provider }, 'portal pace unreadable; keeping the last batch size');
      return this.last?.size ?? this.cap;
    }
  }
}

/** A provider's batch size as operators see it (`GET /batches`, `/metrics`), with what it was chosen from. */
export interface BatchSizeView {
  size: number;
  basis: string;
  /** Whether a batcher chose it (else it is what one would choose from the same measurements). */
  chosen_by_batcher: boolean;
  batches_measured: number;
  session_ms_per_job: number | null;
  login_ms: number | null;
  session_life_ms: number | null;
  session_expiries: number;
}

/** The batch size of each provider: the one its batcher published, else the one the same measurements give. */
export async function batchSizeViews(paces: PortalPaceStore, providers: readonly string[], cap: number): Promise<Record<string, BatchSizeView>> {
  const views: Record<string, BatchSizeView> = {};
  for (const provider of providers) {
    const pace = await paces.read(provider);
    const computed = chooseBatchSize(pace, cap);
    const published = pace.chosenSize !== undefined && pace.chosenBasis !== undefined;
    views[provider] = {
      size: published ? pace.chosenSize! : computed.size,
      basis: published ? pace.chosenBasis! : computed.basis,
      chosen_by_batcher: published,
      batches_measured: pace.batches,
      session_ms_per_job: pace.sessionMsPerJob ?? null,
      login_ms: pace.loginMs ?? null,
      session_life_ms: pace.sessionLifeMs ?? null,
      session_expiries: pace.expiries,
    };
  }
  return views;
}
