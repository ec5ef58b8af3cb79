import type { Db } from '../db/database.js';
import { clearContractMismatches, recordContractMismatch } from '../db/provider-store.js';
import type { RpaError } from '../errors/failures.js';
import { isEvidenceItems } from '../evidence/evidence-item.js';
import type { Logger } from '../logger.js';

/** Where a mismatch was seen: a job's page, or the canary read at a batch's start. */
export interface MismatchSite {
  batchId: string;
  jobId?: string;
  canary?: boolean;
}

/**
 * Tells a changed portal from a bad job: PAGE_CONTRACT_MISMATCH answers are counted per
 * provider (in Postgres, across every worker), and a page that matches clears the count. At the
 * provider's threshold in a row, or at once when the canary's known page does not match, the
 * provider is paused for contract drift: its batches stop and its jobs wait, instead of failing
 * one by one. The pause's event and one log line carry the evidence.
 */
export class ContractDrift {
  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
  ) {}

  /** Counts a mismatch; true when the provider is paused for drift now (by this one or before). */
  async mismatch(provider: string, threshold: number, error: RpaError, site: MismatchSite): Promise<boolean> {
    const evidence = {
      message: error.message,
      selector: error.details?.selector ?? null,
      dom_snippet: error.details?.dom_snippet ?? null,
      // Evidence store keys (the job's screenshots are also served at /jobs/:id/evidence/:name).
      screenshots: isEvidenceItems(error.details?.evidence) ? error.details.evidence.map((item) => item.key) : [],
      batch_id: site.batchId,
      job_id: site.jobId ?? null,
      canary: site.canary ?? false,
    };
    const { mismatches, paused } = await recordContractMismatch(this.db, provider, site.canary ? 1 : threshold, evidence);
    if (paused) {
      this.logger.error(
        { provider, reason: 'contract_drift', mismatches, ...evidence },
        `PROVIDER PAUSED: ${provider} (contract_drift): its pages no longer match the portal contract; its jobs wait until \`rpa providers resume ${provider}\` finds them matching again`,
      );
      return true;
    }
    this.logger.warn({ provider, mismatches, threshold, job_id: site.jobId, selector: evidence.selector }, 'a page did not match the portal contract');
    return mismatches >= threshold;
  }

  /** A page matched: the count of mismatches in a row starts again. */
  async matched(provider: string): Promise<void> {
    await clearContractMismatches(this.db, provider);
  }
}
