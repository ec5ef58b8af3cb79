/** HTML that is safe to send as is: built only by `html` (which escapes) or `raw` (trusted literals). */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** Marks a trusted literal as HTML. Never pass request data here. */
export function raw(value: string): SafeHtml {
  return new SafeHtml(value);
}

type Interpolation = SafeHtml | string | number | boolean | null | undefined | readonly Interpolation[];

function render(value: Interpolation): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

/**
 * Template tag that escapes every interpolated value unless it is already SafeHtml, so a
 * circuit number or an error text can never inject markup.
 */
export function html(strings: TemplateStringsArray, ...values: Interpolation[]): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new SafeHtml(out);
}

/** A whole document with a title and a body. */
export function documentPage(title: string, body: SafeHtml, head: SafeHtml = raw('')): string {
  return html`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${title}</title>${head}</head>
<body>
${body}
</body>
</html>
`.value;
}
