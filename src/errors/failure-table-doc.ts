import { ERROR_CODES, policyOf } from './failures.js';

/** The failure table as docs/architecture.md carries it (between its `failures` markers). */
export function failuresMarkdown(): string {
  const lines = ['| code | retryable | scope | HTTP | BullMQ | meaning |', '|---|---|---|---|---|---|'];
  for (const code of ERROR_CODES) {
    const p = policyOf(code);
    lines.push(`| \`${code}\` | ${p.retryable ? 'yes' : 'no'} | ${p.scope} | ${p.http} | ${p.bullmq ?? ''} | ${p.meaning.replace(/\|/g, '\\|')} |`);
  }
  return lines.join('\n');
}
