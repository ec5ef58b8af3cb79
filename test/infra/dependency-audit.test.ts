import { expect } from 'chai';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

type Verdict = { verdict: 'clean' | 'vulnerable' | 'unavailable'; detail: string };
const load = async (): Promise<(stdout: string) => Verdict> =>
  ((await import(pathToFileURL(join(process.cwd(), 'scripts', 'audit-dependencies.mjs')).href)) as { readAudit: (s: string) => Verdict }).readAudit;

/** npm 11's `npm audit --json` report (auditReportVersion 2), with the given advisories. */
const report = (vulnerabilities: Record<string, { severity: string }>) => {
  const counts = { info: 0, low: 0, moderate: 0, high: 0, critical: 0, total: 0 };
  for (const v of Object.values(vulnerabilities)) {
    counts[v.severity as keyof typeof counts] += 1;
    counts.total += 1;
  }
  const full = Object.fromEntries(Object.entries(vulnerabilities).map(([name, v]) => [name, { name, severity: v.severity, isDirect: false, via: [], effects: [], range: '*', nodes: [], fixAvailable: true }]));
  return JSON.stringify({ auditReportVersion: 2, vulnerabilities: full, metadata: { vulnerabilities: counts, dependencies: { prod: 200, total: 200 } } });
};

describe('CI dependency audit (scripts/audit-dependencies.mjs)', () => {
  it('fails on a high or critical advisory and names the package, passes on lower ones', async () => {
    const readAudit = await load();
    expect(readAudit(report({ 'path-to-regexp': { severity: 'high' }, ms: { severity: 'low' } }))).to.deep.equal({ verdict: 'vulnerable', detail: 'path-to-regexp (high)' });
    expect(readAudit(report({ tar: { severity: 'critical' } }))).to.include({ verdict: 'vulnerable', detail: 'tar (critical)' });
    expect(readAudit(report({ ms: { severity: 'moderate' } }))).to.deep.equal({ verdict: 'clean', detail: '1 advisories, none high or critical' });
    expect(readAudit(report({}))).to.include({ verdict: 'clean' });
  });

  it('says the audit did not run when the registry has no audit endpoint (the 405 this machine gets), never "clean"', async () => {
    const readAudit = await load();
    const answered405 = JSON.stringify({ message: '405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk', method: 'POST', statusCode: 405, body: '', error: { summary: '', detail: '' } });
    expect(readAudit(answered405)).to.deep.equal({ verdict: 'unavailable', detail: '405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk' });
    expect(readAudit('')).to.include({ verdict: 'unavailable' });
  });
});
