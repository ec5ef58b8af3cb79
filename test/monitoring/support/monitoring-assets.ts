import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { parser } from '@prometheus-io/lezer-promql';
import { K8S_DIR, ROOT, renderKustomization, type K8sObject } from '../../k8s/support/manifests.js';

/** The overlay that carries the monitoring component (k8s/components/monitoring). */
export const MONITORING_OVERLAY = 'openshift';
export const DASHBOARD_FILE = join(K8S_DIR, 'components', 'monitoring', 'dashboards', 'rpa-orchestrator.json');
export const PROMTOOL_TESTS = join(ROOT, 'test', 'monitoring', 'alert-rules.promtool.yaml');

/** Series the rules and the dashboard may use before the code exports them: none now; nothing may be missing from a live scrape. */
export const ADDED_LATER: string[] = [];

/** Series Prometheus makes itself for every target. */
export const PROMETHEUS_SERIES = ['up'];

export interface MonitoringObjects {
  rule: K8sObject;
  serviceMonitor: K8sObject;
  dashboardConfigMap: K8sObject;
  objects: K8sObject[];
}

/** The PrometheusRule, ServiceMonitor and dashboard ConfigMap as an overlay renders them. */
export function renderedMonitoring(overlay = MONITORING_OVERLAY): MonitoringObjects {
  const objects = renderKustomization(join(K8S_DIR, 'overlays', overlay));
  const find = (kind: string, name: string) => {
    const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
    if (!found) throw new Error(`overlay ${overlay} renders no ${kind}/${name}`);
    return found;
  };
  return {
    rule: find('PrometheusRule', 'rpa-orchestrator'),
    serviceMonitor: find('ServiceMonitor', 'rpa-api'),
    dashboardConfigMap: find('ConfigMap', 'rpa-grafana-dashboard'),
    objects,
  };
}

/** Writes a PrometheusRule's spec as the plain Prometheus rules file it is. */
export function writeRulesFile(rule: K8sObject, path: string): void {
  writeFileSync(path, dump(rule.spec, { lineWidth: -1 }));
}

export interface PromtoolResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs Debian's promtool (package prometheus; the test bootstrap installs it). */
export function promtool(args: string[], input?: string): PromtoolResult {
  const result = spawnSync('promtool', args, { encoding: 'utf8', input, maxBuffer: 16 * 1024 * 1024 });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error('promtool is not on PATH: install Debian\'s prometheus package (npm test does: scripts/bootstrap.mjs)');
  }
  if (result.error) throw result.error;
  return { status: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}

export interface RuleEntry {
  group: string;
  alert?: string;
  record?: string;
  expr: string;
}

export function ruleEntries(rule: K8sObject): RuleEntry[] {
  return (rule.spec.groups as any[]).flatMap((g) => (g.rules as any[]).map((r) => ({ group: g.name, alert: r.alert, record: r.record, expr: String(r.expr) })));
}

/** Grafana's variables, replaced by what they stand for when the dashboard queries Prometheus. */
export function expandDashboardVariables(expr: string): string {
  return expr.replaceAll('$namespace', '.*').replaceAll('$__rate_interval', '1m').replaceAll('$__interval', '30s');
}

export interface DashboardQuery {
  panel: string;
  expr: string;
}

/** Every PromQL query of the dashboard: panel targets (rows' panels too) and variable queries. */
export function dashboardQueries(dashboard: any): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  const walk = (panels: any[]) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ panel: p.title, expr: expandDashboardVariables(t.expr) });
      walk(p.panels);
    }
  };
  walk(dashboard.panels);
  for (const v of dashboard.templating?.list ?? []) {
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    const m = v.type === 'query' && typeof q === 'string' ? /^label_values\((.+),\s*[a-zA-Z_]\w*\)$/.exec(q) : null;
    if (m) out.push({ panel: `variable ${v.name}`, expr: expandDashboardVariables(m[1]!) });
  }
  return out;
}

export function readDashboard(): any {
  return JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8'));
}

/**
 * The metric names a PromQL expression selects, by Prometheus' own grammar
 * (@prometheus-io/lezer-promql). Throws on a syntax error.
 */
export function seriesOf(expr: string): string[] {
  const tree = parser.parse(expr);
  const names = new Set<string>();
  let error: number | undefined;
  tree.iterate({
    enter(node) {
      if (node.type.isError) error ??= node.from;
      if (node.name === 'VectorSelector') {
        const id = node.node.getChild('Identifier');
        if (id) names.add(expr.slice(id.from, id.to));
      }
    },
  });
  if (error !== undefined) throw new Error(`not PromQL at ${error}: ${expr}`);
  return [...names];
}

/** What the rules and the dashboard read: scraped series, and the series the rules record. */
export function monitoredSeries(rule: K8sObject, dashboard: any): { scraped: string[]; recorded: string[] } {
  const entries = ruleEntries(rule);
  const recorded = [...new Set(entries.flatMap((e) => (e.record ? [e.record] : [])))].sort();
  const used = new Set([...entries.flatMap((e) => seriesOf(e.expr)), ...dashboardQueries(dashboard).flatMap((q) => seriesOf(q.expr))]);
  const scraped = [...used].filter((s) => !recorded.includes(s)).sort();
  return { scraped, recorded };
}
