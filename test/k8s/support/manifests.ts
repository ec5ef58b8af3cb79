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
 * Kinds outside the Kubernetes API (OpenShift's Route) are reported as unknown: the caller decides.
 */
export async function validateObject(obj: K8sObject): Promise<{ known: boolean; error?: string }> {
  let mod: Record<string, any>;
  try {
    mod = await import(`kubernetes-models/${modelPath(obj.apiVersion, obj.kind)}`);
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

/**
 * Whether a pod with `fromLabels` may open `port` on a pod with `toLabels` in the same namespace,
 * by the NetworkPolicies given (ingress only; no policy selecting the target = allowed).
 */
export function ingressAllowed(policies: K8sObject[], fromLabels: Record<string, string>, toLabels: Record<string, string>, port: number): boolean {
  const selecting = policies.filter((p) => (p.spec.policyTypes ?? ['Ingress']).includes('Ingress') && selectorMatches(p.spec.podSelector, toLabels));
  if (selecting.length === 0) return true;
  return selecting.some((p) =>
    (p.spec.ingress ?? []).some((rule: any) => {
      const portOk = !rule.ports || rule.ports.some((rp: any) => rp.port === port);
      const fromOk =
        !rule.from ||
        rule.from.some((peer: any) => peer.podSelector !== undefined && peer.namespaceSelector === undefined && peer.ipBlock === undefined && selectorMatches(peer.podSelector, fromLabels));
      return portOk && fromOk;
    }),
  );
}
