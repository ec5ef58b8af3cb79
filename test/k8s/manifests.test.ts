import { spawnSync } from 'node:child_process';
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CoreV1Api } from '@kubernetes/client-node';
import { loadConfig } from '../../src/config/config.js';
import { KubernetesPoolBackend } from '../../src/browser/fleet/kubernetes-backend.js';
import { TOKEN_SECRET_KEY } from '../../src/browser/fleet/pool-pod.js';
import type { Db } from '../../src/db/database.js';
import { createMetrics } from '../../src/api/metrics/metrics-registry.js';
import { testLogger } from '../support/shared-services.js';
import { ADDED_LATER, PROMETHEUS_SERIES, dashboardQueries, readDashboard, seriesOf } from '../monitoring/support/monitoring-assets.js';
import {
  K8S_DIR,
  ROOT,
  connectionAllowed,
  overlayNames,
  podTemplates,
  readYamlFile,
  renderKustomization,
  selectorMatches,
  validateObject,
  type Endpoint,
  type K8sObject,
  type PodTemplate,
} from './support/manifests.js';

/** Keys of a Secret that only the workers may hold: portal accounts, the TOTP seed, what signs callbacks and leases browsers. */
const WORKER_ONLY_KEY = /^(octotel|openserve|metrofiber|evotel)-(url|username|email|password|totp-secret)$|^callback-secret$|^browser-pool-token$/;

/** Images built from this repository: the overlay pins them by tag (set when pushing); every other image goes by digest. */
const OWN_IMAGES = /(^|\/)rpa-orchestrator(-browser)?(:[\w.-]+)?$/;

/** The Secrets of an overlay: generated ones from the render, production ones from the template. */
function secretsOf(objects: K8sObject[], overlay: string): K8sObject[] {
  const rendered = objects.filter((o) => o.kind === 'Secret');
  if (rendered.length > 0) return rendered;
  return readYamlFile(join(K8S_DIR, 'overlays', overlay.startsWith('openshift') ? 'openshift' : overlay, 'secrets.example.yaml'));
}
const secretKeys = (s: K8sObject): string[] => Object.keys({ ...(s.data ?? {}), ...(s.stringData ?? {}) });

/** Every Secret a pod template reads: projected and secret volumes, env secretKeyRefs, envFrom. */
function secretsReadBy(t: PodTemplate): string[] {
  const names = new Set<string>();
  for (const v of t.spec.volumes ?? []) {
    if (v.secret) names.add(v.secret.secretName);
    for (const src of v.projected?.sources ?? []) if (src.secret) names.add(src.secret.name);
  }
  for (const c of [...(t.spec.initContainers ?? []), ...t.spec.containers]) {
    for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef) names.add(e.valueFrom.secretKeyRef.name);
    for (const e of c.envFrom ?? []) if (e.secretRef) names.add(e.secretRef.name);
  }
  return [...names].sort();
}

/** The evidence bucket's Secret (k8s/components/evidence-s3) and the settings files its two keys become. */
const EVIDENCE_SECRET = 'rpa-evidence-s3';
const EVIDENCE_KEY_FILES: Record<string, string> = { 'access-key-id': 'evidence-s3-access-key-id', 'secret-access-key': 'evidence-s3-secret-access-key' };

/** Where a file of SECRETS_DIR comes from: a ConfigMap's or a Secret's key (a projected volume's source). */
interface SettingsFile {
  value: string;
  from: 'configMap' | 'secret';
  source: string;
  key: string;
}

/** The settings volume of a container: the volume mounted where its SECRETS_DIR points. */
function settingsVolume(t: PodTemplate, c: any): any {
  const dir = c.env.find((e: any) => e.name === 'SECRETS_DIR')?.value;
  const mount = c.volumeMounts.find((m: any) => m.mountPath === dir);
  return mount && t.spec.volumes.find((v: any) => v.name === mount.name);
}

/**
 * The files the kubelet puts into a container's SECRETS_DIR, as a projected volume projects them:
 * every key of each source, or only the keys its `items` list under their `path`. `objects` are
 * the ConfigMaps and Secrets to read from; a source not among them is skipped (a production
 * Secret whose template values are no real settings values).
 */
function settingsFiles(t: PodTemplate, c: any, objects: K8sObject[]): Map<string, SettingsFile> {
  const files = new Map<string, SettingsFile>();
  for (const src of settingsVolume(t, c)?.projected?.sources ?? []) {
    const from = src.configMap ? 'configMap' : src.secret ? 'secret' : undefined;
    if (!from) continue;
    const ref = src.configMap ?? src.secret;
    const obj = objects.find((o) => o.kind === (from === 'configMap' ? 'ConfigMap' : 'Secret') && o.metadata.name === ref.name);
    if (!obj) continue;
    const values: Record<string, string> = { ...(obj.stringData ?? {}) };
    for (const [k, v] of Object.entries<string>(obj.data ?? {})) values[k] = from === 'secret' ? Buffer.from(v, 'base64').toString('utf8') : v;
    const items: { key: string; path: string }[] = ref.items ?? Object.keys(values).map((key) => ({ key, path: key }));
    for (const { key, path } of items) {
      expect(values, `${ref.name} has the key ${key}`).to.have.property(key);
      files.set(path, { value: values[key]!, from, source: ref.name, key });
    }
  }
  return files;
}

/**
 * Loads the configuration a container of ours would: its settings folder (written from
 * `objects` as the kubelet projects it) and its environment ($(VAR) expansions and downward-API
 * fields given stand-in values) over `imageEnv`, what the image's ENV sets.
 */
function loadContainerConfig(t: PodTemplate, objects: K8sObject[], namespace: string, imageEnv: Record<string, string> = {}): { config: ReturnType<typeof loadConfig>; files: Map<string, SettingsFile> } {
  const c = t.spec.containers[0];
  const files = settingsFiles(t, c, objects);
  const dir = mkdtempSync(join(tmpdir(), 'rpa-k8s-settings-'));
  try {
    for (const [path, f] of files) writeFileSync(join(dir, path), f.value);
    const env: Record<string, string> = { ...imageEnv };
    for (const e of c.env) {
      if (e.value !== undefined) env[e.name] = e.value.replace(/\$\(([A-Z0-9_]+)\)/g, 'secretvalue');
      else if (e.valueFrom?.fieldRef) env[e.name] = e.valueFrom.fieldRef.fieldPath === 'metadata.namespace' ? namespace : `${t.owner.metadata.name}-0`;
      else if (e.valueFrom?.secretKeyRef) env[e.name] = 'secretvalue';
    }
    return { config: loadConfig({ env: { ...env, SECRETS_DIR: dir } }), files };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The port a URL's connections go to. */
const urlPort = (u: string): number => {
  const url = new URL(u);
  return url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
};

/** Volume types the Pod Security Standards' restricted profile allows. */
const RESTRICTED_VOLUMES = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];

/** Violations of the restricted profile (plus our own read-only root and resources rules) in one pod spec. */
function restrictedViolations(where: string, spec: any): string[] {
  const out: string[] = [];
  const pod = spec.securityContext ?? {};
  for (const flag of ['hostNetwork', 'hostPID', 'hostIPC']) if (spec[flag]) out.push(`${where}: ${flag}`);
  for (const v of spec.volumes ?? []) {
    const type = Object.keys(v).find((k) => k !== 'name');
    if (!type || !RESTRICTED_VOLUMES.includes(type)) out.push(`${where}: volume ${v.name} of type ${type}`);
  }
  if (pod.runAsUser === 0) out.push(`${where}: pod runAsUser 0`);
  for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
    const sc = c.securityContext ?? {};
    const at = `${where}/${c.name}`;
    if (sc.privileged) out.push(`${at}: privileged`);
    if (sc.allowPrivilegeEscalation !== false) out.push(`${at}: allowPrivilegeEscalation is not false`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) out.push(`${at}: capabilities not dropped (ALL)`);
    for (const cap of sc.capabilities?.add ?? []) if (cap !== 'NET_BIND_SERVICE') out.push(`${at}: adds capability ${cap}`);
    if ((sc.runAsNonRoot ?? pod.runAsNonRoot) !== true) out.push(`${at}: runAsNonRoot is not true`);
    if (sc.runAsUser === 0) out.push(`${at}: runAsUser 0`);
    const seccomp = sc.seccompProfile?.type ?? pod.seccompProfile?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') out.push(`${at}: seccomp ${seccomp}`);
    if (sc.readOnlyRootFilesystem !== true) out.push(`${at}: root file system is writable`);
    for (const r of ['cpu', 'memory']) {
      if (!c.resources?.requests?.[r]) out.push(`${at}: no ${r} request`);
      if (!c.resources?.limits?.[r]) out.push(`${at}: no ${r} limit`);
    }
    if (!c.readinessProbe) out.push(`${at}: no readiness probe`);
    if (!c.livenessProbe) out.push(`${at}: no liveness probe`);
  }
  return out;
}

const isOurs = (t: PodTemplate) => t.labels['app.kubernetes.io/name'] === 'rpa-orchestrator';
const byComponent = (templates: PodTemplate[], component: string) => templates.find((t) => t.labels['app.kubernetes.io/component'] === component);
const containerPorts = (t: PodTemplate): number[] => t.spec.containers.flatMap((c: any) => (c.ports ?? []).map((p: any) => p.containerPort));

describe('k8s manifests', function () {
  this.timeout(60_000);
  const overlays = overlayNames();

  it('has the overlays the deployment guide names', () => {
    expect(overlays).to.include.members(['dev', 'openshift']);
  });

  for (const overlay of overlays) {
    describe(`overlay ${overlay}`, () => {
      let objects: K8sObject[];
      let templates: PodTemplate[];
      const kind = (k: string) => objects.filter((o) => o.kind === k);
      const named = (k: string, name: string) => objects.find((o) => o.kind === k && o.metadata.name === name);
      /** Where the workers run, and where their browser pods do. */
      const orchestratorNs = () => named('Deployment', 'rpa-worker')!.metadata.namespace!;
      const browserNs = () => named('Role', 'rpa-browser-manager')!.metadata.namespace!;
      /** Valkey under Sentinel (k8s/components/valkey-sentinel) rather than one Valkey pod. */
      const sentinel = () => Boolean(named('StatefulSet', 'rpa-valkey-sentinel'));
      /** Whether the overlay keeps evidence in the S3 bucket (k8s/components/evidence-s3) rather than each pod's files. */
      const evidenceInS3 = () => named('ConfigMap', 'rpa-system-config')!.data['evidence-store'] === 's3';
      /** The Secrets loadConfig can be given: the generated ones, and (production) the evidence Secret's template. */
      const loadableSecrets = () => {
        const rendered = kind('Secret');
        if (rendered.some((x) => x.metadata.name === EVIDENCE_SECRET)) return rendered;
        return [...rendered, ...secretsOf(objects, overlay).filter((x) => x.metadata.name === EVIDENCE_SECRET)];
      };

      before(() => {
        objects = renderKustomization(join(K8S_DIR, 'overlays', overlay));
        templates = podTemplates(objects);
      });

      it('renders, and every object is valid against its Kubernetes schema', async () => {
        expect(objects.length).to.be.greaterThan(15);
        const errors: string[] = [];
        const unknown: string[] = [];
        for (const obj of objects) {
          const result = await validateObject(obj);
          if (!result.known) unknown.push(`${obj.apiVersion}/${obj.kind}`);
          if (result.error) errors.push(`${obj.kind}/${obj.metadata.name}: ${result.error}`);
        }
        expect(errors).to.deep.equal([]);
        // Only OpenShift's Route is outside the schemas (Kubernetes', the Prometheus Operator's);
        // checked by hand below.
        expect([...new Set(unknown)]).to.satisfy((u: string[]) => u.every((k) => k === 'route.openshift.io/v1/Route'));
        if (overlay.startsWith('openshift')) expect(objects.filter((o) => o.apiVersion === 'monitoring.coreos.com/v1').map((o) => o.kind).sort()).to.deep.equal(['PrometheusRule', 'ServiceMonitor']);
        const names = objects.map((o) => `${o.kind}/${o.metadata.name}`);
        expect(new Set(names).size, 'no duplicate objects').to.equal(names.length);
      });

      it('has the pieces the issue asks for', () => {
        for (const name of ['rpa-api', 'rpa-worker', 'rpa-browser-pool']) expect(named('Deployment', name), name).to.exist;
        expect(named('StatefulSet', 'rpa-valkey')).to.exist;
        for (const name of ['rpa-api', 'rpa-browser-pool', sentinel() ? 'rpa-valkey-sentinel-headless' : 'rpa-valkey']) expect(named('Service', name), name).to.exist;
        expect(named('ConfigMap', 'rpa-system-config')).to.exist;
        expect(named('HorizontalPodAutoscaler', 'rpa-api')?.spec.scaleTargetRef).to.deep.equal({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'rpa-api' });
        for (const name of ['rpa-api', 'rpa-worker', 'rpa-browser-pool']) expect(named('PodDisruptionBudget', name), name).to.exist;
        expect(kind('NetworkPolicy').length).to.be.greaterThan(2);
        // Two namespaces: the orchestrator's, and one for the browser pods alone.
        const ns = new Set(objects.filter((o) => o.kind !== 'Namespace').map((o) => o.metadata.namespace));
        expect([...ns].sort()).to.deep.equal([orchestratorNs(), browserNs()].sort());
        expect(orchestratorNs()).not.to.equal(browserNs());
        for (const o of objects.filter((x) => x.metadata.namespace === browserNs())) {
          const component = o.kind === 'Deployment' || o.kind === 'Service' || o.kind === 'PodDisruptionBudget' ? o.metadata.labels?.['app.kubernetes.io/component'] : 'any';
          expect(component, `${o.kind}/${o.metadata.name} in the browser namespace`).to.be.oneOf(['any', 'browser-pool']);
          expect(['Deployment', 'Service', 'PodDisruptionBudget', 'ServiceAccount', 'Role', 'RoleBinding', 'NetworkPolicy', 'ResourceQuota', 'LimitRange', 'Secret'], `${o.kind} in the browser namespace`).to.include(o.kind);
        }
        for (const n of kind('Namespace')) expect(n.metadata.labels?.['pod-security.kubernetes.io/enforce'], n.metadata.name).to.equal('restricted');
      });

      it('runs every pod under the restricted Pod Security profile, with resources and probes', () => {
        const violations = templates.flatMap((t) => restrictedViolations(`${t.owner.kind}/${t.owner.metadata.name}`, t.spec));
        expect(violations).to.deep.equal([]);
      });

      it('probes the orchestrator and browser pods on their /health routes', () => {
        for (const t of templates.filter(isOurs)) {
          for (const c of t.spec.containers) {
            expect(c.readinessProbe.httpGet?.path, `${t.owner.metadata.name} readiness`).to.equal('/health/ready');
            expect(c.livenessProbe.httpGet?.path, `${t.owner.metadata.name} liveness`).to.equal('/health/live');
            const portNames = (c.ports ?? []).map((p: any) => p.name);
            expect(portNames).to.include(c.readinessProbe.httpGet.port);
          }
        }
      });

      it('mounts rpa-system-config and each pod\'s own Secret into the folder SECRETS_DIR names (API: rpa-api-credentials, workers: fno-credentials)', () => {
        const externalDb = overlay.endsWith('external-db') ? [{ secret: { name: 'rpa-database' } }] : [];
        const evidence = evidenceInS3() ? [{ secret: { name: EVIDENCE_SECRET, items: Object.entries(EVIDENCE_KEY_FILES).map(([key, path]) => ({ key, path })) } }] : [];
        for (const [component, secret] of [['api', 'rpa-api-credentials'], ['worker', 'fno-credentials']] as const) {
          const t = byComponent(templates, component)!;
          const c = t.spec.containers[0];
          const dir = c.env.find((e: any) => e.name === 'SECRETS_DIR')?.value;
          const mount = c.volumeMounts.find((m: any) => m.mountPath === dir);
          expect(mount, `${component} mounts ${dir}`).to.exist;
          const volume = t.spec.volumes.find((v: any) => v.name === mount.name);
          expect(volume.projected.sources).to.deep.equal([{ configMap: { name: 'rpa-system-config' } }, { secret: { name: secret } }, ...evidence, ...externalDb]);
        }
      });

      it('gives the API pods no portal credential, TOTP seed, callback secret or pool token', () => {
        const api = byComponent(templates, 'api')!;
        const read = secretsReadBy(api);
        const allowed = ['rpa-api-credentials', 'rpa-valkey', 'rpa-postgres', 'rpa-database', EVIDENCE_SECRET];
        expect(read.filter((n) => !allowed.includes(n)), 'Secrets the API reads').to.deep.equal([]);
        expect(read).to.include('rpa-api-credentials');
        const secrets = secretsOf(objects, overlay);
        for (const name of read) {
          const secret = secrets.find((x) => x.metadata.name === name);
          if (name === 'rpa-database' || name === 'rpa-postgres' || name === 'rpa-valkey') continue;
          expect(secret, `Secret ${name} (generated or in the template)`).to.exist;
          expect(secretKeys(secret!).filter((k) => WORKER_ONLY_KEY.test(k)), `keys of ${name}`).to.deep.equal([]);
        }
        // The workers' Secret does hold them (in production), and only the workers read it.
        const fno = secrets.find((x) => x.metadata.name === 'fno-credentials')!;
        expect(secretKeys(fno)).to.include.members(['callback-secret', 'browser-pool-token']);
        if (overlay.startsWith('openshift')) expect(secretKeys(fno)).to.include.members(['octotel-password', 'octotel-totp-secret', 'evotel-password']);
        expect(templates.filter((t) => secretsReadBy(t).includes('fno-credentials')).map((t) => t.owner.metadata.name)).to.deep.equal(['rpa-worker']);
      });

      it('gives the Kubernetes API only to the workers: pod verbs in the browser namespace only, a pod read in their own', () => {
        const role = named('Role', 'rpa-browser-manager')!;
        expect(role.metadata.namespace).to.equal(browserNs());
        expect(role.rules).to.deep.equal([{ apiGroups: [''], resources: ['pods'], verbs: ['create', 'get', 'list', 'delete'] }]);
        // The manager reads no Secret through the API: the kubelet resolves the pods' secretKeyRef.
        const peers = named('Role', 'rpa-browser-manager-peers')!;
        expect(peers.metadata.namespace).to.equal(orchestratorNs());
        expect(peers.rules).to.deep.equal([{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }]);
        expect(kind('Role')).to.have.length(2);
        expect(kind('ClusterRole').concat(kind('ClusterRoleBinding'))).to.deep.equal([]);
        for (const [name, ns] of [['rpa-browser-manager', browserNs()], ['rpa-browser-manager-peers', orchestratorNs()]] as const) {
          const binding = named('RoleBinding', name)!;
          expect(binding.metadata.namespace, name).to.equal(ns);
          expect(binding.roleRef).to.deep.equal({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name });
          expect(binding.subjects).to.deep.equal([{ kind: 'ServiceAccount', name: 'rpa-browser-manager', namespace: orchestratorNs() }]);
        }
        expect(kind('RoleBinding')).to.have.length(2);
        const workerSa = named('ServiceAccount', 'rpa-browser-manager')!;
        expect(workerSa.metadata.namespace).to.equal(orchestratorNs());
        for (const t of templates) {
          const usesApi = t.spec.automountServiceAccountToken !== false;
          const component = t.labels['app.kubernetes.io/component'];
          expect(usesApi, `${t.owner.metadata.name} API token`).to.equal(component === 'worker');
          if (component === 'worker') expect(t.spec.serviceAccountName).to.equal('rpa-browser-manager');
          else expect(t.spec.serviceAccountName ?? 'default').not.to.equal('rpa-browser-manager');
        }
        for (const sa of kind('ServiceAccount')) expect(sa.automountServiceAccountToken, sa.metadata.name).to.equal(false);
      });

      it('runs the browser pods in their own namespace, where the pool token Secret is, and nothing else of ours', () => {
        const config = named('ConfigMap', 'rpa-system-config')!;
        expect(config.metadata.namespace).to.equal(orchestratorNs());
        expect(config.data['browser-k8s-namespace']).to.equal(browserNs());
        const worker = byComponent(templates, 'worker')!.spec.containers[0];
        const env = Object.fromEntries(worker.env.map((e: any) => [e.name, e]));
        // From the ConfigMap, not the worker's own namespace.
        expect(env).not.to.have.property('BROWSER_K8S_NAMESPACE');
        expect(env.BROWSER_K8S_OWNER_POD_NAMESPACE.valueFrom.fieldRef.fieldPath).to.equal('metadata.namespace');
        expect(named('Deployment', 'rpa-browser-pool')!.metadata.namespace).to.equal(browserNs());
        // The token Secret the pods name: in the browser namespace, with the key they read.
        const tokenSecret = config.data['browser-k8s-token-secret'];
        expect(tokenSecret).to.equal('rpa-browser-pool-token');
        const secrets = secretsOf(objects, overlay);
        const token = secrets.find((x) => x.metadata.name === tokenSecret)!;
        expect(token, `Secret ${tokenSecret}`).to.exist;
        expect(token.metadata.namespace).to.equal(browserNs());
        expect(secretKeys(token)).to.deep.equal([TOKEN_SECRET_KEY]);
        const pool = named('Deployment', 'rpa-browser-pool')!;
        expect(secretsReadBy(podTemplates([pool])[0]!)).to.deep.equal([tokenSecret]);
        if (overlay === 'dev') {
          // Generated in both namespaces: the workers present the same token the pods check.
          const fno = secrets.find((x) => x.metadata.name === 'fno-credentials')!;
          expect(fno.data[TOKEN_SECRET_KEY]).to.equal(token.data[TOKEN_SECRET_KEY]);
        }
        // The only Secret there is that token: a pod the manager creates can mount nothing else.
        expect(secrets.filter((x) => x.metadata.namespace === browserNs()).map((x) => x.metadata.name)).to.deep.equal([tokenSecret]);
      });

      /** Every pod of the overlay (the on-demand browser pod too) and a few places outside it. */
      function endpoints(): Record<string, Endpoint & { ports: number[] }> {
        const config = named('ConfigMap', 'rpa-system-config')!;
        const backend = new KubernetesPoolBackend({
          core: {} as CoreV1Api,
          namespace: config.data['browser-k8s-namespace'],
          image: 'x',
          poolPort: Number(config.data['browser-k8s-pool-port']),
          token: 'x'.repeat(16),
          tokenSecret: config.data['browser-k8s-token-secret'],
          resources: { cpuRequest: '1', cpuLimit: '1', memory: '1Gi' },
          instance: config.data['browser-k8s-instance'],
          owner: { name: 'rpa-worker-abc', uid: 'u', namespace: orchestratorNs() },
          readyTimeoutMs: 1000,
          logger: testLogger,
        });
        const pods: Record<string, Endpoint & { ports: number[] }> = {};
        for (const t of templates) pods[t.owner.metadata.name] = { namespace: t.owner.metadata.namespace, labels: t.labels, ports: containerPorts(t) };
        pods['on-demand browser pod'] = { namespace: browserNs(), labels: backend.labels(), ports: [Number(config.data['browser-k8s-pool-port'])] };
        pods['some other pod in the namespace'] = { namespace: orchestratorNs(), labels: { app: 'something-else' }, ports: [8080] };
        pods['some other pod in the browser namespace'] = { namespace: browserNs(), labels: { app: 'something-else' }, ports: [8080] };
        pods['a pod of another namespace'] = { namespace: 'elsewhere', labels: { 'app.kubernetes.io/name': 'rpa-orchestrator', 'app.kubernetes.io/component': 'worker' }, ports: [8080] };
        pods['cluster DNS'] = { namespace: 'openshift-dns', labels: { 'dns.operator.openshift.io/daemonset-dns': 'default' }, ports: [5353] };
        pods['kube-dns'] = { namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' }, ports: [53] };
        return pods;
      }

      it('lets only workers reach browser pods, and only the orchestrator reach Valkey and Postgres (ingress)', () => {
        const policies = kind('NetworkPolicy');
        const pods = endpoints();
        const may = (from: string, to: string) => pods[to]!.ports.some((port) => connectionAllowed(policies, pods[from]!, pods[to]!, port));
        const sources = Object.keys(pods).filter((p) => !['cluster DNS', 'kube-dns'].includes(p));
        for (const target of ['rpa-browser-pool', 'on-demand browser pod']) {
          expect(sources.filter((s) => may(s, target)), target).to.deep.equal(['rpa-worker']);
        }
        if (pods['rpa-postgres']) expect(sources.filter((s) => may(s, 'rpa-postgres')).sort(), 'rpa-postgres').to.deep.equal(['rpa-api', 'rpa-worker']);
        // Under Sentinel, Valkey and the sentinels also reach each other (replication, watching).
        const valkeyPeers = sentinel() ? ['rpa-api', 'rpa-valkey', 'rpa-valkey-sentinel', 'rpa-worker'] : ['rpa-api', 'rpa-worker'];
        for (const target of ['rpa-valkey', 'rpa-valkey-sentinel'].filter((t) => pods[t])) {
          expect(sources.filter((s) => may(s, target)).sort(), target).to.deep.equal(valkeyPeers);
        }
        // The API is open on its port (the router, ORDS, Prometheus); nothing else of it is.
        expect(connectionAllowed(policies, { ip: '203.0.113.50' }, pods['rpa-api']!, 8620)).to.equal(true);
        expect(connectionAllowed(policies, { ip: '203.0.113.50' }, pods['rpa-api']!, 9999)).to.equal(false);
        // Every ingress port a policy opens is a port the selected pods listen on.
        for (const p of policies) {
          const selected = Object.values(pods).filter((pod) => pod.namespace === p.metadata.namespace && selectorMatches(p.spec.podSelector, pod.labels ?? {}));
          for (const rule of p.spec.ingress ?? []) {
            for (const rp of rule.ports ?? []) {
              expect(selected.some((pod) => pod.ports.includes(rp.port)), `${p.metadata.name} port ${rp.port}`).to.equal(true);
            }
          }
        }
      });

      it('lets each pod out only where it must go (egress): API to Postgres/Valkey/DNS (and the evidence bucket); workers also to browsers, the Kubernetes API and ORDS; browsers to DNS and the portals', () => {
        const policies = kind('NetworkPolicy');
        const pods = endpoints();
        const ipsOf = (policy: string, rule: number) => named('NetworkPolicy', policy)!.spec.egress[rule].to.map((peer: any) => peer.ipBlock.cidr.split('/')[0]);
        const portsOf = (policy: string, rule: number) => named('NetworkPolicy', policy)!.spec.egress[rule].ports.map((p: any) => p.port);
        const external: Record<string, { ip: string; ports: number[] }> = {
          portals: { ip: ipsOf('rpa-browser-pool-egress', 1)[0], ports: portsOf('rpa-browser-pool-egress', 1) },
          'Kubernetes API': { ip: ipsOf('rpa-worker-egress', 4)[0], ports: portsOf('rpa-worker-egress', 4) },
          ORDS: { ip: ipsOf('rpa-worker-egress', 5)[0], ports: portsOf('rpa-worker-egress', 5) },
          'the internet': { ip: '203.0.113.99', ports: [443, 80] },
          'a cluster-internal address': { ip: '10.128.0.10', ports: [443, 8080] },
          'the cloud metadata service': { ip: '169.254.169.254', ports: [80] },
        };
        if (overlay.endsWith('external-db')) external['external Postgres'] = { ip: ipsOf('rpa-api-egress', 0)[0], ports: [5432] };
        // The evidence bucket, on the port of its endpoint's URL.
        const s3 = evidenceInS3() ? ['S3 evidence store'] : [];
        if (evidenceInS3()) external['S3 evidence store'] = { ip: ipsOf('rpa-evidence-s3-egress', 0)[0], ports: [urlPort(named('ConfigMap', 'rpa-system-config')!.data['evidence-s3-endpoint'])] };
        const targets = [...Object.keys(pods), ...Object.keys(external)];
        const reach = (from: string) =>
          targets
            .filter((to) => to !== from)
            .filter((to) => {
              const target = pods[to] ?? { ip: external[to]!.ip, ports: external[to]!.ports };
              return target.ports.some((port) => connectionAllowed(policies, pods[from]!, target, port));
            })
            .sort();
        const db = overlay.endsWith('external-db') ? ['external Postgres'] : ['rpa-postgres'];
        const dns = ['cluster DNS', 'kube-dns'];
        const valkey = sentinel() ? ['rpa-valkey', 'rpa-valkey-sentinel'] : ['rpa-valkey'];
        expect(reach('rpa-api'), 'API').to.deep.equal([...db, ...valkey, ...dns, ...s3].sort());
        expect(reach('rpa-worker'), 'workers').to.deep.equal([...db, ...valkey, ...dns, 'rpa-browser-pool', 'on-demand browser pod', 'Kubernetes API', 'ORDS', ...s3].sort());
        for (const browser of ['rpa-browser-pool', 'on-demand browser pod']) {
          expect(reach(browser), browser).to.deep.equal([...dns, 'portals'].sort());
        }
        if (sentinel()) {
          // Each other (a replica its master, sentinels the Valkey pods and their peers) and DNS, nothing else.
          expect(reach('rpa-valkey'), 'rpa-valkey').to.deep.equal(['rpa-valkey-sentinel', ...dns].sort());
          expect(reach('rpa-valkey-sentinel'), 'rpa-valkey-sentinel').to.deep.equal(['rpa-valkey', ...dns].sort());
        }
        for (const quiet of [...(sentinel() ? [] : ['rpa-valkey']), 'rpa-postgres', 'some other pod in the namespace', 'some other pod in the browser namespace'].filter((p) => pods[p])) {
          expect(reach(quiet), quiet).to.deep.equal([]);
        }
        // Browser pods go to the portals on HTTPS only, and every address outside the cluster
        // is a single host or a documentation placeholder, never a cluster or private range.
        expect(portsOf('rpa-browser-pool-egress', 1)).to.deep.equal([443]);
        for (const p of policies) {
          for (const rule of p.spec.egress ?? []) {
            for (const peer of rule.to ?? []) {
              if (!peer.ipBlock) continue;
              const cidr: string = peer.ipBlock.cidr;
              if (overlay === 'dev' && p.metadata.name === 'rpa-worker-egress' && cidr === '0.0.0.0/0') {
                // dev only: the Kubernetes API of kind/minikube, on its ports alone.
                expect(rule.ports.map((x: any) => x.port)).to.deep.equal([6443, 8443]);
                continue;
              }
              expect(cidr, `${p.metadata.name}`).to.match(/\/(2[4-9]|3[0-2])$/);
              for (const internal of ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16', '127.0.0.0/8']) {
                const [a] = cidr.split('/');
                const [base, bits] = internal.split('/');
                const n = (x: string) => x.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
                expect(Math.floor(n(a!) / 2 ** (32 - Number(bits))) === Math.floor(n(base!) / 2 ** (32 - Number(bits))), `${p.metadata.name} ${cidr} inside ${internal}`).to.equal(false);
              }
            }
          }
        }
      });

      it('bounds the browser namespace with a ResourceQuota and a LimitRange the browser pods fit', () => {
        const quota = named('ResourceQuota', 'rpa-browsers')!;
        const limits = named('LimitRange', 'rpa-browsers')!;
        expect(quota.metadata.namespace).to.equal(browserNs());
        expect(limits.metadata.namespace).to.equal(browserNs());
        const config = named('ConfigMap', 'rpa-system-config')!;
        const cpu = (q: string) => (q.endsWith('m') ? Number(q.slice(0, -1)) / 1000 : Number(q));
        const mem = (q: string) => Number(q.replace(/Gi$/, '')) * 1024 ** 3 || Number(q.replace(/Mi$/, '')) * 1024 ** 2;
        const pod = { cpuRequest: cpu(config.data['browser-k8s-cpu-request']), cpuLimit: cpu(config.data['browser-k8s-cpu-limit']), memory: mem(config.data['browser-k8s-memory']) };
        const container = limits.spec.limits.find((l: any) => l.type === 'Container');
        expect(pod.cpuLimit).to.be.at.most(cpu(container.max.cpu));
        expect(pod.memory).to.be.at.most(mem(container.max.memory));
        expect(pod.cpuRequest).to.be.at.least(cpu(container.min.cpu));
        for (const key of ['default', 'defaultRequest']) expect(container[key], key).to.have.all.keys('cpu', 'memory');
        // Room for every on-demand pod the workers may start at once.
        const workers = named('Deployment', 'rpa-worker')!.spec.replicas;
        const most = workers * Number(config.data['browser-max-pools']);
        const hard = quota.spec.hard;
        expect(Number(hard.pods)).to.be.at.least(most);
        expect(cpu(hard['requests.cpu'])).to.be.at.least(most * pod.cpuRequest);
        expect(cpu(hard['limits.cpu'])).to.be.at.least(most * pod.cpuLimit);
        expect(mem(hard['requests.memory'])).to.be.at.least(most * pod.memory);
        expect(mem(hard['limits.memory'])).to.be.at.least(most * pod.memory);
        // The fixed pool's pods fit the LimitRange too.
        const fixed = named('Deployment', 'rpa-browser-pool')!.spec.template.spec.containers[0].resources;
        expect(cpu(fixed.limits.cpu)).to.be.at.most(cpu(container.max.cpu));
        expect(mem(fixed.limits.memory)).to.be.at.most(mem(container.max.memory));
      });

      it('pins every image by digest, except the two built from this repository', () => {
        const images = templates.flatMap((t) => [...(t.spec.initContainers ?? []), ...t.spec.containers].map((c: any) => ({ where: t.owner.metadata.name, image: c.image as string })));
        images.push({ where: 'browser-k8s-image', image: named('ConfigMap', 'rpa-system-config')!.data['browser-k8s-image'] });
        const unpinned = images.filter((i) => !/@sha256:[0-9a-f]{64}$/.test(i.image) && !OWN_IMAGES.test(i.image));
        expect(unpinned).to.deep.equal([]);
        expect(images.filter((i) => /@sha256:/.test(i.image)).map((i) => i.where).sort()).to.include.members(overlay.endsWith('external-db') ? ['rpa-valkey'] : ['rpa-postgres', 'rpa-valkey']);
      });

      it('wires Services, PDBs and the on-demand pods to the right pods', () => {
        for (const svc of kind('Service')) {
          const target = templates.find((t) => t.owner.metadata.namespace === svc.metadata.namespace && selectorMatches({ matchLabels: svc.spec.selector }, t.labels));
          expect(target, `Service ${svc.metadata.name} selects a workload`).to.exist;
          const names = target!.spec.containers.flatMap((c: any) => (c.ports ?? []).map((p: any) => p.name));
          for (const port of svc.spec.ports) expect(names, `${svc.metadata.name} targetPort`).to.include(port.targetPort);
        }
        for (const pdb of kind('PodDisruptionBudget')) {
          expect(templates.some((t) => t.owner.metadata.namespace === pdb.metadata.namespace && selectorMatches(pdb.spec.selector, t.labels)), pdb.metadata.name).to.equal(true);
        }
        // The fixed pool's ReplicaSet must not adopt the manager's pods (same component label).
        const staticPool = named('Deployment', 'rpa-browser-pool')!;
        const onDemandLabels = new KubernetesPoolBackend({ instance: 'rpa', owner: { name: 'w', uid: 'u' } } as never).labels();
        expect(selectorMatches(staticPool.spec.selector, onDemandLabels)).to.equal(false);
      });

      it('runs Valkey with AOF persistence, noeviction and a password', () => {
        const valkey = named('StatefulSet', 'rpa-valkey')!;
        const args: string[] = valkey.spec.template.spec.containers[0].args;
        const flag = (name: string) => args[args.indexOf(name) + 1];
        expect(flag('--appendonly')).to.equal('yes');
        expect(flag('--maxmemory-policy')).to.equal('noeviction');
        expect(flag('--requirepass')).to.equal('$(VALKEY_PASSWORD)');
        expect(valkey.spec.template.spec.containers[0].env.find((e: any) => e.name === 'VALKEY_PASSWORD').valueFrom.secretKeyRef).to.deep.equal({ name: 'rpa-valkey', key: 'password' });
        expect(flag('--appendfsync')).to.equal('everysec');
        expect(valkey.spec.volumeClaimTemplates[0].spec.resources.requests.storage).to.be.a('string');
      });

      if (overlay.includes('sentinel')) {
        it('runs Valkey under Sentinel: three Valkey pods and three sentinels (quorum 2), the orchestrator finding the master through them', () => {
          const valkey = named('StatefulSet', 'rpa-valkey')!;
          const sentinels = named('StatefulSet', 'rpa-valkey-sentinel')!;
          expect(valkey.spec.replicas).to.equal(3);
          expect(sentinels.spec.replicas).to.equal(3);
          expect(named('Service', 'rpa-valkey'), 'no one-address Service balancing over master and replicas').to.equal(undefined);
          const script = (workload: K8sObject) => workload.spec.template.spec.containers[0].command[2] as string;
          expect(script(valkey)).to.include('--replicaof').and.include('--replica-announce-ip').and.include('"$@"');
          const conf = script(sentinels);
          expect(conf).to.match(/sentinel monitor rpa-valkey \$master 6379 2/);
          expect(conf).to.include('sentinel resolve-hostnames yes').and.include('sentinel announce-hostnames yes');
          for (const ns of [valkey, sentinels, named('Service', 'rpa-valkey-sentinel-headless')!]) expect(ns.metadata.namespace, ns.metadata.name).to.equal(orchestratorNs());
          // The sentinels' addresses are their pods' stable names under the headless Service, the master's name the one they watch.
          const config = named('ConfigMap', 'rpa-system-config')!;
          const headless = named('Service', 'rpa-valkey-sentinel-headless')!;
          expect(config.data['valkey-sentinels'].split(',')).to.deep.equal([0, 1, 2].map((i) => `${sentinels.metadata.name}-${i}.${headless.metadata.name}:${headless.spec.ports[0].port}`));
          expect(sentinels.spec.serviceName).to.equal(headless.metadata.name);
          expect(config.data['valkey-sentinel-name']).to.equal('rpa-valkey');
          for (const component of ['api', 'worker']) {
            const env = byComponent(templates, component)!.spec.containers[0].env as any[];
            expect(env.map((e) => e.name), component).not.to.include.members(['VALKEY_URL']);
            for (const name of ['VALKEY_PASSWORD', 'VALKEY_SENTINEL_PASSWORD']) expect(env.find((e) => e.name === name)?.valueFrom.secretKeyRef, `${component} ${name}`).to.deep.equal({ name: 'rpa-valkey', key: 'password' });
          }
        });

        it('has start-up scripts a shell accepts (after the kubelet turns $$ into $)', () => {
          for (const t of templates) {
            for (const c of t.spec.containers) {
              if (c.command?.[0] !== 'sh' || c.command[1] !== '-c') continue;
              const checked = spawnSync('sh', ['-n', '-c', String(c.command[2]).replace(/\$\$/g, '$')], { encoding: 'utf8' });
              expect(checked.status, `${t.owner.metadata.name}: ${checked.stderr}`).to.equal(0);
            }
          }
        });
      }

      it('points the browser service manager at the browser image the overlay deploys', () => {
        const config = named('ConfigMap', 'rpa-system-config')!;
        const staticPool = named('Deployment', 'rpa-browser-pool')!;
        expect(config.data['browser-k8s-image']).to.equal(staticPool.spec.template.spec.containers[0].image);
        expect(config.data['browser-manager-mode']).to.equal('kubernetes');
      });

      it('gives settings the orchestrator accepts (ConfigMap keys and Secret keys are known settings)', () => {
        const config = named('ConfigMap', 'rpa-system-config')!;
        // The worker's settings folder as the kubelet projects it (the API's: the evidence tests below).
        const { config: loaded } = loadContainerConfig(byComponent(templates, 'worker')!, [config, ...loadableSecrets()], orchestratorNs());
        expect(loaded.browserManager.mode).to.equal('kubernetes');
        expect(loaded.browserManager.k8s.image).to.equal(config.data['browser-k8s-image']);
        expect(loaded.browserManager.k8s.ownerPodName).to.equal('rpa-worker-0');
        expect(loaded.browserManager.k8s.namespace).to.equal(browserNs());
        expect(loaded.browserManager.k8s.ownerPodNamespace).to.equal(orchestratorNs());
        expect(loaded.roles).to.include('worker');
        expect(loaded.valkey?.mode, 'how the workers reach Valkey').to.equal(sentinel() ? 'sentinel' : 'server');
      });

      it('has worker pods run their own browser services: kubernetes manager, no pool URL, the pool token, /health/* on PORT', () => {
        const config = named('ConfigMap', 'rpa-system-config')!;
        // With browser-pool-url set the workers would lease from that one pool instead.
        expect(config.data).not.to.have.property('browser-pool-url');
        expect(config.data['browser-manager-mode']).to.equal('kubernetes');
        // The manager needs the token it hands to the pods it creates (and to the workers' leases).
        const secret = secretsOf(objects, overlay).find((x) => x.metadata.name === 'fno-credentials')!;
        expect(Object.keys({ ...secret.data, ...secret.stringData })).to.include('browser-pool-token');
        const worker = byComponent(templates, 'worker')!.spec.containers[0];
        const env = Object.fromEntries(worker.env.filter((e: any) => e.value !== undefined).map((e: any) => [e.name, e.value]));
        const roles = String(env.RPA_ROLES).split(',');
        // No api role: the process serves /health/* alone on PORT. No browser role: no in-process pool.
        expect(roles).to.include('worker').and.not.include.members(['api', 'browser']);
        const probePort = worker.ports.find((p: any) => p.name === worker.readinessProbe.httpGet.port).containerPort;
        expect(String(probePort)).to.equal(env.PORT);
        // The probes come from the kubelet, not from loopback: the health server must bind all addresses.
        expect(env.HOST ?? '0.0.0.0').to.equal('0.0.0.0');
      });

      it(`keeps evidence where the ${overlay.startsWith('openshift') ? 'API serves it: the S3 bucket' : 'worker writes it: its own files (dev, one worker)'}`, () => {
        // Production keeps evidence in the bucket; the dev overlay keeps the fs store (docs/deploy.md, "Evidence storage").
        expect(evidenceInS3(), 'evidence-store s3').to.equal(overlay.startsWith('openshift'));
      });

      /** The configuration the API and the worker containers load from what the overlay gives them. */
      const apiAndWorker = () =>
        (['api', 'worker'] as const).map((component) => ({ component, ...loadContainerConfig(byComponent(templates, component)!, [named('ConfigMap', 'rpa-system-config')!, ...loadableSecrets()], orchestratorNs()) }));

      it('gives the API and the workers the same evidence settings, and PUBLIC_BASE_URL the address ORDS reaches the API at', () => {
        const [api, worker] = apiAndWorker();
        // The settings themselves as the orchestrator reads them, and the files they come from.
        expect(api!.config.evidence).to.deep.equal(worker!.config.evidence);
        const evidenceFiles = (files: Map<string, SettingsFile>) => Object.fromEntries([...files].filter(([path]) => path.startsWith('evidence-') || path === 'public-base-url').map(([path, f]) => [path, f.value]));
        expect(evidenceFiles(api!.files)).to.deep.equal(evidenceFiles(worker!.files));
        // None is set, or overridden, per container.
        for (const t of [byComponent(templates, 'api')!, byComponent(templates, 'worker')!]) {
          const names = t.spec.containers[0].env.map((e: any) => e.name);
          expect(names.filter((n: string) => n.startsWith('EVIDENCE_') || n === 'PUBLIC_BASE_URL'), t.owner.metadata.name).to.deep.equal([]);
        }
        // PUBLIC_BASE_URL: the Route's host over TLS in production; the API Service in dev.
        let expected: string;
        if (overlay.startsWith('openshift')) {
          const route = named('Route', 'rpa-api')!;
          expect(route.spec.host, 'the Route names its host').to.be.a('string').and.match(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/);
          expect(route.spec.tls.termination).to.be.oneOf(['edge', 'reencrypt', 'passthrough']);
          expected = `https://${route.spec.host}`;
        } else {
          const service = named('Service', 'rpa-api')!;
          const port = service.spec.ports.find((p: any) => p.name === 'http').port;
          expected = `http://rpa-api.${service.metadata.namespace}.svc:${port}`;
        }
        for (const { component, config } of [api!, worker!]) expect(config.publicBaseUrl, component).to.equal(expected);
      });

      if (overlay.startsWith('openshift')) {
        it('keeps evidence in the S3 bucket: settings from rpa-system-config, keys from the Secret rpa-evidence-s3 only, accepted by loadConfig', () => {
          const config = named('ConfigMap', 'rpa-system-config')!;
          for (const { component, config: loaded, files } of apiAndWorker()) {
            expect(loaded.evidence.store, component).to.equal('s3');
            expect(loaded.evidence.s3.bucket).to.equal(config.data['evidence-s3-bucket']);
            expect(loaded.evidence.s3.endpoint).to.equal(config.data['evidence-s3-endpoint']);
            expect(loaded.evidence.s3.region).to.equal(config.data['evidence-s3-region']);
            expect(loaded.evidence.s3.forcePathStyle).to.equal(true);
            expect(loaded.evidence.s3.prefix).to.equal(config.data['evidence-s3-prefix']);
            // The two keys: files from the Secret's two keys, nothing else.
            const secret = secretsOf(objects, overlay).find((x) => x.metadata.name === EVIDENCE_SECRET)!;
            for (const [key, path] of Object.entries(EVIDENCE_KEY_FILES)) {
              expect(files.get(path), `${component} ${path}`).to.deep.include({ from: 'secret', source: EVIDENCE_SECRET, key });
            }
            expect(loaded.evidence.s3.accessKeyId).to.equal(secret.stringData['access-key-id']);
            expect(loaded.evidence.s3.secretAccessKey).to.equal(secret.stringData['secret-access-key']);
            expect([...files].filter(([, f]) => f.source === EVIDENCE_SECRET).map(([path]) => path).sort()).to.deep.equal(Object.values(EVIDENCE_KEY_FILES).sort());
          }
          // Never a literal: no ConfigMap holds a key, no container has one in its environment.
          const keyFiles = Object.values(EVIDENCE_KEY_FILES);
          for (const cm of kind('ConfigMap')) expect(Object.keys(cm.data ?? {}).filter((k) => keyFiles.includes(k) || /access-key|secret-key/.test(k)), cm.metadata.name).to.deep.equal([]);
          for (const t of templates) {
            for (const c of [...(t.spec.initContainers ?? []), ...t.spec.containers]) {
              expect((c.env ?? []).filter((e: any) => /^EVIDENCE_S3_(ACCESS_KEY_ID|SECRET_ACCESS_KEY)$/.test(e.name)), `${t.owner.metadata.name}/${c.name}`).to.deep.equal([]);
            }
          }
          // The Secret is the operator's (template, its namespace the API's), read by the API and the workers alone.
          const template = readYamlFile(join(K8S_DIR, 'overlays', 'openshift', 'secrets.example.yaml')).find((x) => x.metadata.name === EVIDENCE_SECRET)!;
          expect(template.metadata.namespace).to.equal(named('Deployment', 'rpa-api')!.metadata.namespace);
          expect(kind('Secret').map((x) => x.metadata.name)).not.to.include(EVIDENCE_SECRET);
          expect(templates.filter((t) => secretsReadBy(t).includes(EVIDENCE_SECRET)).map((t) => t.owner.metadata.name).sort()).to.deep.equal(['rpa-api', 'rpa-worker']);
        });

        it('lets the API and the workers, and no other pod, reach the S3 endpoint on its port', () => {
          const policies = kind('NetworkPolicy');
          const pods = endpoints();
          const endpoint = named('ConfigMap', 'rpa-system-config')!.data['evidence-s3-endpoint'];
          const port = urlPort(endpoint);
          const rule = named('NetworkPolicy', 'rpa-evidence-s3-egress')!.spec.egress[0];
          expect(rule.ports.map((p: any) => p.port), `the port of ${endpoint}`).to.deep.equal([port]);
          const bucket = { ip: rule.to[0].ipBlock.cidr.split('/')[0] };
          // Among the pods of the overlay's two namespaces (the policies of other namespaces are not ours).
          const ours = Object.keys(pods).filter((p) => [orchestratorNs(), browserNs()].includes(pods[p]!.namespace!));
          expect(ours).to.include.members(['rpa-api', 'rpa-worker', 'rpa-valkey', 'rpa-browser-pool', 'on-demand browser pod', 'some other pod in the namespace']);
          const may = ours.filter((from) => connectionAllowed(policies, pods[from]!, bucket, port));
          expect(may.sort()).to.deep.equal(['rpa-api', 'rpa-worker']);
          // That port only, and that address only.
          for (const from of ['rpa-api', 'rpa-worker']) {
            expect(connectionAllowed(policies, pods[from]!, bucket, port === 443 ? 80 : 443), `${from} other port`).to.equal(false);
            expect(connectionAllowed(policies, pods[from]!, { ip: '203.0.113.77' }, port), `${from} another address`).to.equal(false);
          }
        });
      } else {
        it('keeps evidence in the fs store of the one worker pod (dev): no bucket, no S3 Secret, the folder on its writable emptyDir', () => {
          const config = named('ConfigMap', 'rpa-system-config')!;
          expect(Object.keys(config.data).filter((k) => k.startsWith('evidence-'))).to.deep.equal([]);
          expect(named('NetworkPolicy', 'rpa-evidence-s3-egress')).to.equal(undefined);
          expect(templates.filter((t) => secretsReadBy(t).includes(EVIDENCE_SECRET)).map((t) => t.owner.metadata.name)).to.deep.equal([]);
          // One worker: every job's evidence is on that one pod (`oc exec deploy/rpa-worker -- … evidence verify`).
          expect(named('Deployment', 'rpa-worker')!.spec.replicas).to.equal(1);
          expect(kind('HorizontalPodAutoscaler').filter((h) => h.spec.scaleTargetRef.name === 'rpa-worker')).to.deep.equal([]);
          // RPA_DATA_DIR as the image sets it: the evidence folder must be on a writable volume (the root file system is read-only).
          const dataDirs = [...readFileSync(join(ROOT, 'Dockerfile'), 'utf8').matchAll(/RPA_DATA_DIR=(\S+)/g)].map((m) => m[1]!);
          expect(new Set(dataDirs).size, 'one RPA_DATA_DIR in the images').to.equal(1);
          const worker = byComponent(templates, 'worker')!;
          const c = worker.spec.containers[0];
          expect(c.env.map((e: any) => e.name)).not.to.include.members(['RPA_DATA_DIR', 'EVIDENCE_DIR']);
          for (const { component, config: loaded } of apiAndWorker()) expect(loaded.evidence.store, component).to.equal('fs');
          const dir = loadContainerConfig(worker, [config, ...loadableSecrets()], orchestratorNs(), { RPA_DATA_DIR: dataDirs[0]! }).config;
          expect(dir.evidenceDir).to.equal(`${dataDirs[0]}/evidence`);
          const mount = c.volumeMounts.find((m: any) => dir.evidenceDir.startsWith(`${m.mountPath.replace(/\/$/, '')}/`));
          expect(mount, `a volume under ${dir.evidenceDir}`).to.exist;
          expect(mount.readOnly ?? false).to.equal(false);
          expect(worker.spec.volumes.find((v: any) => v.name === mount.name)).to.have.property('emptyDir');
        });
      }

      if (overlay.startsWith('openshift')) {
        it('leaves UIDs and fsGroups to the OpenShift SCC, and exposes the API by an edge Route', () => {
          for (const t of templates) {
            const scs = [t.spec.securityContext ?? {}, ...t.spec.containers.map((c: any) => c.securityContext ?? {})];
            for (const sc of scs) {
              expect(sc, t.owner.metadata.name).not.to.have.any.keys('runAsUser', 'runAsGroup', 'fsGroup');
            }
          }
          const route = named('Route', 'rpa-api')!;
          expect(route.apiVersion).to.equal('route.openshift.io/v1');
          expect(route.spec.to).to.deep.equal({ kind: 'Service', name: 'rpa-api', weight: 100 });
          expect(route.spec.port.targetPort).to.equal('http');
          expect(['edge', 'reencrypt', 'passthrough']).to.include(route.spec.tls.termination);
          expect(kind('Secret').map((x) => x.metadata.name), 'production credentials are not in the manifests').to.deep.equal([]);
        });
      }
    });
  }

  it('renders the external-postgres component: no in-cluster Postgres, no DATABASE_URL from it', () => {
    const objects = renderKustomization(join(K8S_DIR, 'overlays', 'openshift-external-db'));
    expect(objects.filter((o) => o.metadata.name.startsWith('rpa-postgres'))).to.deep.equal([]);
    for (const t of podTemplates(objects)) {
      for (const c of t.spec.containers) {
        expect((c.env ?? []).map((e: any) => e.name)).not.to.include.members(['DATABASE_URL', 'K8S_POSTGRES_PASSWORD']);
      }
    }
  });

  it('monitors the API: the ServiceMonitor selects its Service and port with a viewer key from a Secret; rules and dashboard read only series that exist', () => {
    for (const overlay of ['openshift', 'openshift-external-db']) {
      const objects = renderKustomization(join(K8S_DIR, 'overlays', overlay));
      const find = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name)!;
      const monitor = find('ServiceMonitor', 'rpa-api');
      const service = find('Service', 'rpa-api');
      expect(monitor.apiVersion).to.equal('monitoring.coreos.com/v1');
      expect(monitor.metadata.namespace).to.equal(service.metadata.namespace);
      expect(selectorMatches(monitor.spec.selector, service.metadata.labels ?? {}), 'selects the Service rpa-api').to.equal(true);
      const others = objects.filter((o) => o.kind === 'Service' && o.metadata.name !== 'rpa-api' && o.metadata.namespace === monitor.metadata.namespace);
      expect(others.filter((o) => selectorMatches(monitor.spec.selector, o.metadata.labels ?? {})).map((o) => o.metadata.name), 'selects no other Service').to.deep.equal([]);
      expect(monitor.spec.endpoints).to.have.length(1);
      const [endpoint] = monitor.spec.endpoints;
      expect(service.spec.ports.map((p: any) => p.name)).to.include(endpoint.port);
      expect(endpoint.path).to.equal('/metrics');
      expect(endpoint.authorization).to.deep.equal({ type: 'Bearer', credentials: { name: 'rpa-metrics-scrape', key: 'token' } });
      const template = readYamlFile(join(K8S_DIR, 'overlays', 'openshift', 'secrets.example.yaml')).find((s) => s.metadata.name === 'rpa-metrics-scrape')!;
      expect(Object.keys(template.stringData)).to.deep.equal(['token']);

      // The rules as rendered are the file's, which test/monitoring/alert-rules.test.ts gives promtool.
      const rule = find('PrometheusRule', 'rpa-orchestrator');
      expect(rule.metadata.namespace).to.equal(service.metadata.namespace);
      expect(rule.spec).to.deep.equal(readYamlFile(join(K8S_DIR, 'components', 'monitoring', 'prometheus-rule.yaml'))[0]!.spec);

      // The dashboard ConfigMap carries the dashboard file, whose queries read only series the
      // orchestrator registers (a histogram's _bucket/_sum/_count), the rules record, Prometheus
      // makes (up).
      const dashboard = find('ConfigMap', 'rpa-grafana-dashboard');
      expect(dashboard.metadata.labels?.grafana_dashboard).to.equal('1');
      expect(JSON.parse(dashboard.data['rpa-orchestrator.json'])).to.deep.equal(readDashboard());
      const registry = createMetrics({ db: {} as Db, logger: testLogger }).registry;
      const exported = registry.getMetricsAsArray().flatMap((m: any) => (m.type === 'histogram' ? [`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name]));
      const recorded = (rule.spec.groups as any[]).flatMap((g) => g.rules.filter((r: any) => r.record).map((r: any) => r.record));
      const known = new Set([...exported, ...recorded, ...PROMETHEUS_SERIES, ...ADDED_LATER]);
      const queries = dashboardQueries(readDashboard());
      expect(queries.length).to.be.greaterThan(15);
      for (const q of queries) {
        const series = seriesOf(q.expr);
        expect(series.length, q.panel).to.be.greaterThan(0);
        expect(series.filter((x) => !known.has(x)), `panel "${q.panel}"`).to.deep.equal([]);
      }
      for (const r of (rule.spec.groups as any[]).flatMap((g) => g.rules)) {
        expect(seriesOf(String(r.expr)).filter((x) => !known.has(x) && !x.startsWith('vector')), r.alert ?? r.record).to.deep.equal([]);
      }
    }
  });

  it('has a Secret template for production whose keys are all settings the orchestrator knows', async () => {
    const secrets = readYamlFile(join(K8S_DIR, 'overlays', 'openshift', 'secrets.example.yaml'));
    expect(secrets.map((s) => s.metadata.name)).to.deep.equal(['rpa-api-credentials', 'fno-credentials', 'rpa-valkey', 'rpa-postgres', EVIDENCE_SECRET, 'rpa-browser-pool-token', 'rpa-metrics-scrape']);
    for (const s of secrets) expect((await validateObject(s)).error, s.metadata.name).to.equal(undefined);
    // The namespaces the openshift overlay renders: each Secret where the pods that read it run.
    const rendered = renderKustomization(join(K8S_DIR, 'overlays', 'openshift'));
    const nsOf = (kind: string, name: string) => rendered.find((o) => o.kind === kind && o.metadata.name === name)!.metadata.namespace;
    for (const s of secrets) expect(s.metadata.namespace, s.metadata.name).to.equal(s.metadata.name === 'rpa-browser-pool-token' ? nsOf('Role', 'rpa-browser-manager') : nsOf('Deployment', 'rpa-api'));
    // The API's and the workers' are mounted into SECRETS_DIR: every key must be a setting.
    const settingKeys = secrets.filter((s) => ['rpa-api-credentials', 'fno-credentials'].includes(s.metadata.name)).flatMap((s) => Object.keys(s.stringData));
    expect(settingKeys).to.include.members(['rpa-api-key', 'callback-secret', 'browser-pool-token', 'octotel-totp-secret']);
    // The evidence Secret's keys reach SECRETS_DIR under the file names its items give (the evidence tests check the Deployments map them so).
    const evidence = secrets.find((s) => s.metadata.name === EVIDENCE_SECRET)!;
    expect(Object.keys(evidence.stringData).sort()).to.deep.equal(Object.keys(EVIDENCE_KEY_FILES).sort());
    settingKeys.push(...Object.values(EVIDENCE_KEY_FILES));
    for (const key of settingKeys) {
      const dir = mkdtempSync(join(tmpdir(), 'rpa-k8s-key-'));
      try {
        writeFileSync(join(dir, key), 'x');
        let message = '';
        try {
          loadConfig({ env: { SECRETS_DIR: dir } });
        } catch (err) {
          message = (err as Error).message;
        }
        expect(message, key).not.to.contain('unknown setting');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  it('validates the pod the browser service manager creates against the Pod schema and the restricted profile', async () => {
    const backend = new KubernetesPoolBackend({
      core: {} as CoreV1Api,
      namespace: 'rpa',
      image: 'registry.example/rpa-orchestrator-browser:1',
      poolPort: 8630,
      token: 'y'.repeat(16),
      tokenSecret: 'fno-credentials',
      resources: { cpuRequest: '500m', cpuLimit: '2', memory: '2Gi' },
      instance: 'rpa',
      owner: { name: 'rpa-worker-abc', uid: '0d9f2f2e-0000-4000-8000-000000000000' },
      readyTimeoutMs: 1000,
      logger: testLogger,
    });
    const pod = backend.podSpec('rpa-browser-rpa-0123abcd') as unknown as K8sObject;
    expect(await validateObject(JSON.parse(JSON.stringify(pod)))).to.deep.equal({ known: true });
    expect(restrictedViolations('on-demand pod', pod.spec)).to.deep.equal([]);
  });
});
