import { isCancellable } from './circuit-status.js';
import type { CancellationResult, ProviderSessionContext, ValidationResult } from './provider.js';

/**
 * What a cancellation answers from the circuit's current state, without submitting anything: not
 * found, or no longer cancellable (the existing reference, with evidence of the page). Undefined
 * when the circuit is still cancellable and the form must be sent. Every automation reads the
 * circuit first and asks this, so a cancellation that may have been sent before is never sent again.
 */
export async function answerWithoutSubmitting(ctx: ProviderSessionContext, circuit: string, state: ValidationResult): Promise<CancellationResult | undefined> {
  if (!state.found) return { found: false, circuit_number: circuit, cancelled: false, already_cancelled: false, reference: null };
  if (isCancellable(state.status)) return undefined;
  await ctx.captureEvidence('already-cancelled');
  return { found: true, circuit_number: circuit, cancelled: true, already_cancelled: true, reference: state.cancellation_reference };
}
