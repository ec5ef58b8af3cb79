import { expect } from 'chai';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { PROMTOOL_TESTS, promtool, renderedMonitoring, ruleEntries, writeRulesFile } from './support/monitoring-assets.js';
import type { K8sObject } from '../k8s/support/manifests.js';

/** The alerting rules as the openshift overlay renders them, checked and unit-tested by promtool. */
describe('alerting rules (promtool)', function () {
  this.timeout(60_000);
  let dir: string;
  let rule: K8sObject;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'rpa-rules-'));
    rule = renderedMonitoring().rule;
    writeRulesFile(rule, join(dir, 'rules.yaml'));
    copyFileSync(PROMTOOL_TESTS, join(dir, 'alert-rules.promtool.yaml'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('pass `promtool check rules`', () => {
    const result = promtool(['check', 'rules', join(dir, 'rules.yaml')]);
    expect(result.status, result.stdout + result.stderr).to.equal(0);
    expect(result.stdout).to.match(new RegExp(`SUCCESS: ${ruleEntries(rule).length} rules found`));
  });

  it('pass `promtool test rules` (test/monitoring/alert-rules.promtool.yaml)', () => {
    const result = promtool(['test', 'rules', join(dir, 'alert-rules.promtool.yaml')]);
    expect(result.status, result.stdout + result.stderr).to.equal(0);
    expect(result.stdout).to.contain('SUCCESS');
  });

  it('have, for every alert, a unit test where it fires and one where it must not', () => {
    const alerts = ruleEntries(rule).flatMap((r) => (r.alert ? [r.alert] : []));
    expect(alerts).to.include.members([
      'RpaProviderPaused',
      'RpaLoginCircuitBreakerOpen',
      'RpaJobsFailing',
      'RpaOldestWaitingJobOverBudget',
      'RpaTotpRefused',
      'RpaCallbacksFailing',
      'RpaBrowsersNotReady',
      'RpaBrowserPoolNotReady',
      'RpaValkeyUnreachable',
      'RpaPostgresUnreachable',
    ]);
    const tests = (load(readFileSync(PROMTOOL_TESTS, 'utf8')) as any).tests as any[];
    const cases = tests.flatMap((t) => t.alert_rule_test as { alertname: string; exp_alerts: unknown[] }[]);
    for (const alert of alerts) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect(mine.some((c) => c.exp_alerts.length > 0), `${alert} fires in some case`).to.equal(true);
      expect(mine.some((c) => c.exp_alerts.length === 0), `${alert} stays silent in some case`).to.equal(true);
    }
    expect(cases.filter((c) => !alerts.includes(c.alertname)).map((c) => c.alertname), 'tests of alerts that do not exist').to.deep.equal([]);
  });

  it('are the same rules in every overlay that deploys them', () => {
    expect(renderedMonitoring('openshift-external-db').rule.spec).to.deep.equal(rule.spec);
  });
});
