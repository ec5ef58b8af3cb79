import { CANCEL_REASONS, CANCEL_REASON_LABELS } from './circuit.js';
import { html, type SafeHtml } from './html.js';

/** `<option>`s of the cancellation reason select, the given one (default the first) selected. */
export function reasonOptions(selected?: string): SafeHtml {
  const chosen = selected && (CANCEL_REASONS as readonly string[]).includes(selected) ? selected : CANCEL_REASONS[0];
  return html`${CANCEL_REASONS.map(
    (r) => html`<option value="${r}"${r === chosen ? html` selected` : ''}>${CANCEL_REASON_LABELS[r]}</option>`,
  )}`;
}
