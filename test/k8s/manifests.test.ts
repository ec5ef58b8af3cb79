import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CoreV1Api } from '@kubernetes/client-node';
import { loadConfig } from '../../src/config/config.js';
import { KubernetesPoolBackend } from '../../src/browser/fleet/kubernetes-backend.js';
import { testLogger } from '../support/shared-services.js';
import {
  K8S_DIR,
  ingressAllowed,
  overlayNames,
  podTemplates,
  readYamlFile,
  renderKustomization,
  selectorMatches,
  validateObject,
  type K8sObject,
  type PodTemplate,
} from './support/manifests.js';

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
        // Only OpenShift's Route is outside the Kubernetes schemas; checked by hand below.
        expect([...new Set(unknown)]).to.satisfy((u: string[]) => u.every((k) => k === 'route.openshift.io/v1/Route'));
        const names = objects.map((o) => `${o.kind}/${o.metadata.name}`);
        expect(new Set(names).size, 'no duplicate objects').to.equal(names.length);
      });

      it('has the pieces the issue asks for', () => {
        for (const name of ['rpa-api', 'rpa-worker', 'rpa-browser-pool']) expect(named('Deployment', name), name).to.exist;
        expect(named('StatefulSet', 'rpa-valkey')).to.exist;
        for (const name of ['rpa-api', 'rpa-browser-pool', 'rpa-valkey']) expect(named('Service', name), name).to.exist;
        expect(named('ConfigMap', 'rpa-system-config')).to.exist;
        expect(named('HorizontalPodAutoscaler', 'rpa-api')?.spec.scaleTargetRef).to.deep.equal({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'rpa-api' });
        for (const name of ['rpa-api', 'rpa-worker', 'rpa-browser-pool']) expect(named('PodDisruptionBudget', name), name).to.exist;
        expect(kind('NetworkPolicy').length).to.be.greaterThan(2);
        const ns = new Set(objects.filter((o) => o.kind !== 'Namespace').map((o) => o.metadata.namespace));
        expect(ns.size, 'one namespace for everything').to.equal(1);
        expect([...ns][0]).to.be.a('string');
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

      it('mounts rpa-system-config and fno-credentials into the folder SECRETS_DIR names', () => {
        for (const component of ['api', 'worker']) {
          const t = byComponent(templates, component)!;
          const c = t.spec.containers[0];
          const dir = c.env.find((e: any) => e.name === 'SECRETS_DIR')?.value;
          const mount = c.volumeMounts.find((m: any) => m.mountPath === dir);
          expect(mount, `${component} mounts ${dir}`).to.exist;
          const volume = t.spec.volumes.find((v: any) => v.name === mount.name);
          expect(volume.projected.sources).to.deep.equal([{ configMap: { name: 'rpa-system-config' } }, { secret: { name: 'fno-credentials' } }]);
        }
      });

      it('gives the Kubernetes API only to the workers, and the Role only what the manager calls', () => {
        const role = named('Role', 'rpa-browser-manager')!;
        expect(role.rules).to.deep.equal([{ apiGroups: [''], resources: ['pods'], verbs: ['create', 'get', 'list', 'delete'] }]);
        expect(kind('Role')).to.have.length(1);
        expect(kind('ClusterRole').concat(kind('ClusterRoleBinding'))).to.deep.equal([]);
        const binding = named('RoleBinding', 'rpa-browser-manager')!;
        expect(binding.roleRef).to.deep.equal({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'rpa-browser-manager' });
        expect(binding.subjects).to.deep.equal([{ kind: 'ServiceAccount', name: 'rpa-browser-manager', namespace: binding.metadata.namespace }]);
        for (const t of templates) {
          const usesApi = t.spec.automountServiceAccountToken !== false;
          const component = t.labels['app.kubernetes.io/component'];
          expect(usesApi, `${t.owner.metadata.name} API token`).to.equal(component === 'worker');
          if (component === 'worker') expect(t.spec.serviceAccountName).to.equal('rpa-browser-manager');
          else expect(t.spec.serviceAccountName ?? 'default').not.to.equal('rpa-browser-manager');
        }
        for (const sa of kind('ServiceAccount')) expect(sa.automountServiceAccountToken, sa.metadata.name).to.equal(false);
      });

      it('lets only workers reach browser pods, and only the orchestrator reach Valkey and Postgres', () => {
        const policies = kind('NetworkPolicy');
        const config = named('ConfigMap', 'rpa-system-config')!;
        const backend = new KubernetesPoolBackend({
          core: {} as CoreV1Api,
          namespace: 'x',
          image: 'x',
          poolPort: Number(config.data['browser-k8s-pool-port']),
          token: 'x'.repeat(16),
          tokenSecret: 'fno-credentials',
          resources: { cpuRequest: '1', cpuLimit: '1', memory: '1Gi' },
          instance: config.data['browser-k8s-instance'],
          owner: { name: 'rpa-worker-abc', uid: 'u' },
          readyTimeoutMs: 1000,
          logger: testLogger,
        });
        const pods: Record<string, { labels: Record<string, string>; ports: number[] }> = {};
        for (const t of templates) pods[t.owner.metadata.name] = { labels: t.labels, ports: containerPorts(t) };
        pods['on-demand browser pod'] = { labels: backend.labels(), ports: [Number(config.data['browser-k8s-pool-port'])] };
        pods['some other pod in the namespace'] = { labels: { app: 'something-else' }, ports: [] };

        const may = (from: string, to: string) => pods[to]!.ports.some((port) => ingressAllowed(policies, pods[from]!.labels, pods[to]!.labels, port));
        const sources = Object.keys(pods);
        const browserTargets = ['rpa-browser-pool', 'on-demand browser pod'];
        for (const target of browserTargets) {
          expect(sources.filter((s) => may(s, target)), target).to.deep.equal(['rpa-worker']);
        }
        for (const target of ['rpa-valkey', 'rpa-postgres'].filter((t) => pods[t])) {
          expect(sources.filter((s) => may(s, target)).sort(), target).to.deep.equal(['rpa-api', 'rpa-worker']);
        }
        // The API is open on its port; nothing else of the API pod is.
        expect(may('some other pod in the namespace', 'rpa-api')).to.equal(true);
        expect(ingressAllowed(policies, {}, pods['rpa-api']!.labels, 9999)).to.equal(false);
        // Every port a policy opens is a port the selected pods listen on.
        for (const p of policies) {
          const selected = Object.values(pods).filter((pod) => selectorMatches(p.spec.podSelector, pod.labels));
          for (const rule of p.spec.ingress ?? []) {
            for (const rp of rule.ports ?? []) {
              expect(selected.some((pod) => pod.ports.includes(rp.port)), `${p.metadata.name} port ${rp.port}`).to.equal(true);
            }
          }
        }
      });

      it('wires Services, PDBs and the on-demand pods to the right pods', () => {
        for (const svc of kind('Service')) {
          const target = templates.find((t) => selectorMatches({ matchLabels: svc.spec.selector }, t.labels));
          expect(target, `Service ${svc.metadata.name} selects a workload`).to.exist;
          const names = target!.spec.containers.flatMap((c: any) => (c.ports ?? []).map((p: any) => p.name));
          for (const port of svc.spec.ports) expect(names, `${svc.metadata.name} targetPort`).to.include(port.targetPort);
        }
        for (const pdb of kind('PodDisruptionBudget')) {
          expect(templates.some((t) => selectorMatches(pdb.spec.selector, t.labels)), pdb.metadata.name).to.equal(true);
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
        expect(valkey.spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef).to.deep.equal({ name: 'rpa-valkey', key: 'password' });
        expect(valkey.spec.volumeClaimTemplates[0].spec.resources.requests.storage).to.be.a('string');
      });

      it('points the browser service manager at the browser image the overlay deploys', () => {
        const config = named('ConfigMap', 'rpa-system-config')!;
        const staticPool = named('Deployment', 'rpa-browser-pool')!;
        expect(config.data['browser-k8s-image']).to.equal(staticPool.spec.template.spec.containers[0].image);
        expect(config.data['browser-manager-mode']).to.equal('kubernetes');
      });

      it('gives settings the orchestrator accepts (ConfigMap keys and Secret keys are known settings)', () => {
        const dir = mkdtempSync(join(tmpdir(), 'rpa-k8s-settings-'));
        try {
          const config = named('ConfigMap', 'rpa-system-config')!;
          for (const [key, value] of Object.entries<string>(config.data)) writeFileSync(join(dir, key), value);
          const secret = named('Secret', 'fno-credentials');
          for (const [key, value] of Object.entries<string>(secret?.data ?? {})) writeFileSync(join(dir, key), Buffer.from(value, 'base64'));
          for (const [key, value] of Object.entries<string>(secret?.stringData ?? {})) writeFileSync(join(dir, key), value);
          const worker = byComponent(templates, 'worker')!.spec.containers[0];
          const env: Record<string, string> = { SECRETS_DIR: dir };
          for (const e of worker.env) {
            if (e.value !== undefined) env[e.name] = e.value.replace(/\$\(([A-Z0-9_]+)\)/g, 'secretvalue');
            else if (e.valueFrom?.fieldRef) env[e.name] = e.valueFrom.fieldRef.fieldPath === 'metadata.namespace' ? 'rpa' : 'rpa-worker-0';
          }
          delete env.SECRETS_DIR;
          const loaded = loadConfig({ env: { ...env, SECRETS_DIR: dir } });
          expect(loaded.browserManager.mode).to.equal('kubernetes');
          expect(loaded.browserManager.k8s.image).to.equal(config.data['browser-k8s-image']);
          expect(loaded.browserManager.k8s.ownerPodName).to.equal('rpa-worker-0');
          expect(loaded.roles).to.include('worker');
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });

      it('has worker pods run their own browser services: kubernetes manager, no pool URL, the pool token, /health/* on PORT', () => {
        const config = named('ConfigMap', 'rpa-system-config')!;
        // With browser-pool-url set the workers would lease from that one pool instead.
        expect(config.data).not.to.have.property('browser-pool-url');
        expect(config.data['browser-manager-mode']).to.equal('kubernetes');
        // The manager needs the token it hands to the pods it creates (and to the workers' leases).
        const secret = named('Secret', 'fno-credentials') ?? readYamlFile(join(K8S_DIR, 'overlays', 'openshift', 'secrets.example.yaml'))[0]!;
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
          expect(named('Secret', 'fno-credentials'), 'production credentials are not in the manifests').to.equal(undefined);
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

  it('has a Secret template for production whose keys are all settings the orchestrator knows', async () => {
    const secrets = readYamlFile(join(K8S_DIR, 'overlays', 'openshift', 'secrets.example.yaml'));
    expect(secrets.map((s) => s.metadata.name)).to.deep.equal(['fno-credentials', 'rpa-valkey', 'rpa-postgres']);
    for (const s of secrets) expect((await validateObject(s)).error, s.metadata.name).to.equal(undefined);
    for (const key of Object.keys(secrets[0]!.stringData)) {
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
