import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backoffMs } from '../../src/errors/backoff.js';
import { failuresMarkdown } from '../../src/errors/failure-table-doc.js';
import { coerceError } from '../../src/errors/coerce-error.js';
import { ERROR_CODES, FAILURES, RpaError, hasScope, policyOf } from '../../src/errors/failures.js';

const SRC = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('the failure table', () => {
  it('gives every code a policy whose retry flag agrees with its scope', () => {
    for (const code of ERROR_CODES) {
      const p = policyOf(code);
      expect(p.http, code).to.be.within(400, 599);
      // Only a final failure or a refused login may be "not retryable".
      if (!p.retryable) expect(['none', 'login'], code).to.include(p.scope);
      if (p.scope === 'none') expect(p.retryable, code).to.equal(false);
      expect(p.meaning.length, code).to.be.greaterThan(10);
    }
  });

  it('is where retry policy is decided: no throw site in src/ sets `retryable`', () => {
    const offenders = sourceFiles(SRC)
      .filter((f) => !relative(SRC, f).startsWith('errors/'))
      .filter((f) => /\bretryable\s*:/.test(readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '')));
    expect(offenders.map((f) => relative(SRC, f))).to.deep.equal([]);
  });

  it('derives an error\'s retry flag, scope and HTTP status from its code alone', () => {
    const gone = new RpaError('BROWSER_GONE', 'gone');
    expect(gone).to.include({ retryable: true, scope: 'browser' });
    expect(gone.policy.http).to.equal(503);
    expect(new RpaError('LOGIN_REFUSED', 'no')).to.include({ retryable: false, scope: 'login' });
    expect(hasScope(new RpaError('PORTAL_HICCUP', '503'), 'page')).to.equal(true);
    expect(hasScope(new Error('x'), 'page')).to.equal(false);
    expect(FAILURES.VALIDATION_FAILED.bullmq).to.equal('unrecoverable');
  });

  it('is documented: docs/architecture.md carries the table the code declares', () => {
    const doc = readFileSync(join(SRC, '..', 'docs', 'architecture.md'), 'utf8');
    const start = doc.indexOf('\n', doc.indexOf('<!-- failures:start')) + 1;
    const end = doc.indexOf('<!-- failures:end -->');
    expect(doc.slice(start, end).trimEnd(), 'run `npx rpa failures --markdown` and paste it into docs/architecture.md').to.equal(failuresMarkdown());
  });

  it('keeps the code and adds details in withDetails, with the original as cause', () => {
    const error = new RpaError('PAGE_CONTRACT_MISMATCH', 'no table', { field: 'x' });
    const more = error.withDetails({ evidence: ['a.png'] });
    expect(more).to.include({ code: 'PAGE_CONTRACT_MISMATCH', message: 'no table', field: 'x' });
    expect(more.details).to.deep.equal({ evidence: ['a.png'] });
    expect(more.cause).to.equal(error);
  });
});

describe('coerceError', () => {
  it('makes a refused or cut connection SERVICE_UNAVAILABLE and anything else INTERNAL', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    expect(coerceError(refused).code).to.equal('SERVICE_UNAVAILABLE');
    const shutdown = Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
    expect(coerceError(shutdown).code).to.equal('SERVICE_UNAVAILABLE');
    expect(coerceError(new Error('Connection terminated unexpectedly')).code).to.equal('SERVICE_UNAVAILABLE');
    expect(coerceError(new Error("Stream isn't writeable and enableOfflineQueue options is false")).code).to.equal('SERVICE_UNAVAILABLE');
    expect(coerceError(new AggregateError([refused], '')).code).to.equal('SERVICE_UNAVAILABLE');
    expect(coerceError(Object.assign(new Error('duplicate key'), { code: '23505' })).code).to.equal('INTERNAL');
    expect(coerceError('boom').code).to.equal('INTERNAL');
    const ours = new RpaError('CONFLICT', 'taken');
    expect(coerceError(ours)).to.equal(ours);
  });
});

describe('backoffMs', () => {
  it('doubles from the base up to the ceiling and takes off at most the jitter share', () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffMs(n, { baseMs: 100, maxMs: 1_000, jitter: 0 }))).to.deep.equal([100, 200, 400, 800, 1_000]);
    expect(backoffMs(3, { baseMs: 100, jitter: 0.5 }, 0.999)).to.be.within(200, 201);
    expect(backoffMs(3, { baseMs: 100, jitter: 0.5 }, 0)).to.equal(400);
    for (let i = 0; i < 100; i++) expect(backoffMs(2, { baseMs: 1_000 })).to.be.within(1_000, 2_000);
  });
});
