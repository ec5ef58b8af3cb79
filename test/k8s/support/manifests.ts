import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAll } from 'js-yaml';

/** The repository root (tests run from dist/test/k8s/support). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
export const K8S_DIR = join(ROOT, 'k8s');

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: any;
}

/** Every overlay folder under k8s/overlays. */
export function overlayNames(): string[] {
  const dir = join(K8S_DIR, 'overlays');
  return readdirSync(dir)
    .filter((name) => statSync(join(dir, name)).isDirectory())
    .sort();
}

/**
 * Renders a kustomization with the real kustomize built into kubectl (offline: every resource
 * is local). kubectl is part of the project's machine image; without it the test fails and says so.
 */
export function renderKustomization(dir: string): K8sObject[] {
  const result = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', maxBuffer: 32 * 1024 * 1024 });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error('kubectl is not on PATH: the manifest test renders overlays with `kubectl kustomize` (kubectl >= 1.27)');
  }
  if (result.status !== 0) throw new Error(`kubectl kustomize ${dir} failed:\n${result.stderr}`);
  return parseYamlDocuments(result.stdout);
}

/** Plain YAML → JSON (client-node's loadAllYaml is no good here: it renames fields, `from` → `_from`). */
export function parseYamlDocuments(text: string): K8sObject[] {
  return (loadAll(text) as unknown[]).filter((doc) => doc !== null && doc !== undefined) as K8sObject[];
}

export function readYamlFile(path: string): K8sObject[] {
  return parseYamlDocuments(readFileSync(path, 'utf8'));
}

/** The module of kubernetes-models that holds a kind (`apps/v1` + `Deployment` → `apps/v1/Deployment`). */
function modelPath(apiVersion: string, kind: string): string {
  return apiVersion.includes('/') ? `${apiVersion}/${kind}` : `v1/${kind}`;
}

/**
 * Validates an object against the Kubernetes OpenAPI schema of its kind (kubernetes-models: types,
 * required fields, enums, formats such as quantities). Returns the error text, or undefined.
 * The Prometheus Operator's kinds are checked against @kubernetes-models/prometheus-operator.
 * Kinds outside both (OpenShift's Route) are reported as unknown: the caller decides.
 */
export async function validateObject(obj: K8sObject): Promise<{ known: boolean; error?: string }> {
  let mod: Record<string, any>;
  // The Prometheus Operator's kinds (ServiceMonitor, PrometheusRule) have models of their own.
  const models = obj.apiVersion.startsWith('monitoring.coreos.com/') ? '@kubernetes-models/prometheus-operator' : 'kubernetes-models';
  try {
    mod = await import(`${models}/${modelPath(obj.apiVersion, obj.kind)}`);
  } catch {
    return { known: false };
  }
  const Model = mod[obj.kind];
  if (!Model) return { known: false };
  try {
    new Model(structuredClone(obj)).validate();
    return { known: true };
  } catch (err) {
    return { known: true, error: (err as Error).message };
  }
}

export interface PodTemplate {
  owner: K8sObject;
  labels: Record<string, string>;
  spec: any;
}

/** The pod templates of the workloads among `objects`. */
export function podTemplates(objects: K8sObject[]): PodTemplate[] {
  return objects
    .filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(o.kind))
    .map((o) => ({ owner: o, labels: o.spec.template.metadata?.labels ?? {}, spec: o.spec.template.spec }));
}

/** Kubernetes label selector semantics (matchLabels and matchExpressions). */
export function selectorMatches(selector: any, labels: Record<string, string>): boolean {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    if (e.operator === 'In' && !(has && e.values.includes(value))) return false;
    if (e.operator === 'NotIn' && has && e.values.includes(value)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

/** A pod, or a place outside the cluster (an IP address), as NetworkPolicies see it. */
export interface Endpoint {
  namespace?: string;
  labels?: Record<string, string>;
  /** Set for an address outside the cluster (then namespace and labels are unset). */
  ip?: string;
  /** The pod's named container ports (what a policy's `port: <name>` means on it). */
  namedPorts?: ReadonlyMap<string, number>;
}

/** The labels Kubernetes gives every namespace (what namespaceSelectors match). */
export function namespaceLabels(namespace: string): Record<string, string> {
  return { 'kubernetes.io/metadata.name': namespace };
}

function ipInCidr(ip: string, cidr: string): boolean {
  const [base, bits = '32'] = cidr.split('/');
  const toInt = (a: string) => a.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  const size = 2 ** (32 - Number(bits));
  return Math.floor(toInt(ip) / size) === Math.floor(toInt(base!) / size);
}

/** Whether one `from`/`to` peer of a policy in `policyNamespace` matches `other`. */
function peerMatches(peer: any, policyNamespace: string | undefined, other: Endpoint): boolean {
  if (peer.ipBlock) {
    if (!other.ip) return false;
    return ipInCidr(other.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((c: string) => ipInCidr(other.ip!, c));
  }
  if (other.ip) return false;
  const namespaceOk = peer.namespaceSelector ? selectorMatches(peer.namespaceSelector, namespaceLabels(other.namespace ?? '')) || (Object.keys(peer.namespaceSelector).length === 0) : other.namespace === policyNamespace;
  const podOk = peer.podSelector ? selectorMatches(peer.podSelector, other.labels ?? {}) || Object.keys(peer.podSelector).length === 0 : true;
  return namespaceOk && podOk;
}

function portMatches(rule: any, port: number, on: Endpoint): boolean {
  return !rule.ports || rule.ports.some((rp: any) => (typeof rp.port === 'string' ? on.namedPorts?.get(rp.port) : rp.port) === port && (rp.protocol ?? 'TCP') === 'TCP');
}

/** Policies of `endpoint`'s namespace that select it for `type` (Ingress or Egress). */
function selecting(policies: K8sObject[], endpoint: Endpoint, type: 'Ingress' | 'Egress'): K8sObject[] {
  return policies.filter(
    (p) =>
      p.metadata.namespace === endpoint.namespace &&
      (p.spec.policyTypes ?? ['Ingress', ...(p.spec.egress ? ['Egress'] : [])]).includes(type) &&
      (Object.keys(p.spec.podSelector ?? {}).length === 0 || selectorMatches(p.spec.podSelector, endpoint.labels ?? {})),
  );
}

/**
 * Whether `from` may open TCP `port` on `to` under the NetworkPolicies given: the egress policies
 * of `from`'s namespace must let it out (when it is a pod) and the ingress policies of `to`'s let
 * it in (when it is a pod). No policy selecting a pod for a direction = allowed that way.
 */
export function connectionAllowed(policies: K8sObject[], from: Endpoint, to: Endpoint, port: number): boolean {
  if (!from.ip) {
    const egress = selecting(policies, from, 'Egress');
    const out = egress.length === 0 || egress.some((p) => (p.spec.egress ?? []).some((rule: any) => portMatches(rule, port, to) && (!rule.to || rule.to.some((peer: any) => peerMatches(peer, p.metadata.namespace, to)))));
    if (!out) return false;
  }
  if (!to.ip) {
    const ingress = selecting(policies, to, 'Ingress');
    const inOk = ingress.length === 0 || ingress.some((p) => (p.spec.ingress ?? []).some((rule: any) => portMatches(rule, port, to) && (!rule.from || rule.from.some((peer: any) => peerMatches(peer, p.metadata.namespace, from)))));
    if (!inOk) return false;
  }
  return true;
}
