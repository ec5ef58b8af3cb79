import type { Request, Response } from 'express';

/** How a lost answer looks to the client: a cut connection, or a 503. */
export type LostAnswer = 'reset' | '503';

/** The state of the `/__sandbox/faults` knob (not part of the real portals' contract). */
export interface AnswerFaultsDocument {
  /** Cancellations still to come whose answer is lost after the portal has processed them. */
  lose_cancel_answers: number;
  as: LostAnswer;
}

/**
 * A practice-portal fault for testing unclear submits: the next `lose_cancel_answers`
 * cancellations are carried out (counted, reference issued) and then their answer is lost,
 * as when a real portal's response dies on the way back.
 */
export class AnswerFaults {
  private pending = 0;
  private kind: LostAnswer = 'reset';

  document(): AnswerFaultsDocument {
    return { lose_cancel_answers: this.pending, as: this.kind };
  }

  /** Applies a `POST /__sandbox/faults` body; returns the error text for a bad one. */
  configure(body: unknown): string | undefined {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'body must be a JSON object';
    const { lose_cancel_answers: count, as, ...rest } = body as Record<string, unknown>;
    const unknown = Object.keys(rest)[0];
    if (unknown !== undefined) return `unknown fault key "${unknown}"`;
    if (count !== undefined && (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > 1000)) {
      return 'lose_cancel_answers must be a whole number between 0 and 1000';
    }
    if (as !== undefined && as !== 'reset' && as !== '503') return 'as must be "reset" or "503"';
    if (count !== undefined) this.pending = count;
    if (as !== undefined) this.kind = as;
    return undefined;
  }

  /** The kind of loss for the cancellation just processed, if its answer is to be lost. */
  take(): LostAnswer | undefined {
    if (this.pending === 0) return undefined;
    this.pending--;
    return this.kind;
  }

  reset(): void {
    this.pending = 0;
    this.kind = 'reset';
  }
}

/**
 * Call right after a cancellation was carried out: when the faults knob says so, loses its
 * answer (cuts the connection, or answers 503 rendered by `unavailable`) and returns true; the
 * route then sends nothing more.
 */
export function loseCancelAnswer(faults: AnswerFaults, req: Request, res: Response, unavailable: (req: Request, res: Response) => void): boolean {
  const kind = faults.take();
  if (kind === undefined) return false;
  if (kind === 'reset') {
    // A few bytes that are no HTTP answer first: a browser sends a request again by itself
    // when a reused connection closes before any byte came back, and the loss would go unseen.
    res.socket?.end('connection lost\r\n');
    res.socket?.destroy();
    return true;
  }
  res.status(503);
  unavailable(req, res);
  return true;
}
