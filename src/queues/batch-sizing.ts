import type { PortalPace } from './portal-pace.js';

export interface BatchSizeChoice {
  /** The most jobs one batch of the provider takes now. */
  size: number;
  /** Why, in words an operator reads in `GET /batches`. */
  basis: string;
}

/** Share of a session's measured lifetime a batch is planned to use: room for a slower stretch. */
export const LIFETIME_SHARE = 0.8;

/**
 * The batch size of a provider from what was measured of its portal: a batch should normally
 * finish inside one session, so when sessions were seen to end (`sessionLifeMs`, the shortest
 * of the recent expiries) it holds the jobs a session gets through in LIFETIME_SHARE of that
 * time at its measured pace (`sessionMsPerJob`, pages at once included). `cap` (BATCH_SIZE)
 * stays the most; with no expiry seen, or no pace measured yet, the cap is the size.
 */
export function chooseBatchSize(pace: PortalPace | undefined, cap: number): BatchSizeChoice {
  const most = Math.max(1, Math.floor(cap));
  if (!pace?.sessionLifeMs) return { size: most, basis: 'BATCH_SIZE (no session of this portal was seen to expire)' };
  if (!pace.sessionMsPerJob) return { size: most, basis: `BATCH_SIZE (sessions expired after ${seconds(pace.sessionLifeMs)}, no pace measured yet)` };
  const fits = Math.floor((LIFETIME_SHARE * pace.sessionLifeMs) / pace.sessionMsPerJob);
  const size = Math.min(most, Math.max(1, fits));
  if (size === most) return { size, basis: `BATCH_SIZE (${fits} jobs would fit in ${LIFETIME_SHARE * 100}% of a ${seconds(pace.sessionLifeMs)} session at ${Math.round(pace.sessionMsPerJob)} ms per job)` };
  return { size, basis: `${size} jobs fit in ${LIFETIME_SHARE * 100}% of the shortest recent session (${seconds(pace.sessionLifeMs)}) at ${Math.round(pace.sessionMsPerJob)} ms per job` };
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}
