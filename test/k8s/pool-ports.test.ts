import { request } from 'node:http';
import { join } from 'node:path';
import { expect } from 'chai';
import type { CoreV1Api } from '@kubernetes/client-node';
import { KubernetesPoolBackend } from '../../src/browser/fleet/kubernetes-backend.js';
import type { LeaseGrant } from '../../src/browser/pool/pool-api.js';
import { testLogger } from '../support/shared-services.js';
import { startTestPool, type TestPool } from '../browser/pool-fixture.js';
import { connectionAllowed, K8S_DIR, overlayNames, podTemplates, renderKustomization, selectorMatches, type Endpoint, type K8sObject } from './support/manifests.js';

/** A lease from the real pool, asked for the way a client that calls it `hostHeader` would. */
function leaseAs(pool: TestPool, hostHeader: string): Promise<LeaseGrant> {
  const api = new URL(pool.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: api.hostname, port: api.port, path: '/leases', method: 'POST', headers: { host: hostHeader, authorization: `Bearer ${pool.token}`, 'content-type': 'application/json' } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body) as LeaseGrant) : reject(new Error(`HTTP ${res.statusCode}: ${body}`))));
    });
    req.on('error', reject);
    req.end('{}');
  });
}

async function release(pool: TestPool, grant: LeaseGrant): Promise<void> {
  await fetch(`${pool.url}/leases/${grant.leaseId}`, { method: 'DELETE', headers: { authorization: `Bearer ${pool.token}` } });
}

/** Ports a client of a pool at `url` is sent to: the API's and every browser endpoint's, as the real pool advertises them. */
async function advertisedPorts(pool: TestPool, url: string): Promise<number[]> {
  const api = new URL(url);
  const grant = await leaseAs(pool, api.host);
  await release(pool, grant);
  const ws = new URL(grant.wsEndpoint);
  expect(ws.hostname, 'the browser is reached at the host the client called').to.equal(api.hostname);
  return [...new Set([Number(api.port || 80), Number(ws.port || 80)])];
}

interface PodPorts {
  labels: Record<string, string>;
  /** containerPort by name, and every container port. */
  named: Map<string, number>;
  ports: number[];
  /** BROWSER_POOL_PORT of the pool container: where the pool listens. */
  listens: number;
}

function podPorts(labels: Record<string, string>, spec: any): PodPorts {
  const container = spec.containers.find((c: any) => c.name === 'browser-pool') ?? spec.containers[0];
  const named = new Map<string, number>((container.ports ?? []).map((p: any) => [p.name, p.containerPort]));
  const env = (container.env ?? []).find((e: any) => e.name === 'BROWSER_POOL_PORT');
  return { labels, named, ports: (container.ports ?? []).map((p: any) => p.containerPort), listens: Number(env?.value) };
}

/**
 * Issue 14: every port a pool sends its clients to (its API and its browsers' WebSockets, as the
 * real pool advertises them) must be declared by the container, the Service and the
 * NetworkPolicy, in every overlay, for the on-demand pool pods and the fixed pool alike. The pool
 * serves its browsers on its own port, so that is one port.
 */
describe('k8s: the ports a pool advertises are the ports the manifests open (real pool, every overlay)', function () {
  this.timeout(60_000);
  let pool: TestPool;

  before(async () => {
    pool = await startTestPool({ size: 1 });
  });
  after(async () => {
    await pool?.close();
  });

  for (const overlay of overlayNames()) {
    describe(`overlay ${overlay}`, () => {
      let objects: K8sObject[];
      let policies: K8sObject[];
      let worker: Endpoint;
      let stranger: Endpoint;
      const named = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);
      const browserNamespace = () => named('ConfigMap', 'rpa-system-config')!.data['browser-k8s-namespace'] as string;
      /** Whether the NetworkPolicies (egress of the worker's namespace, ingress of the pool's) let `from` open `port` on a pool pod. */
      const allows = (from: Endpoint, to: PodPorts, port: number) =>
        connectionAllowed(policies, from, { namespace: browserNamespace(), labels: to.labels, namedPorts: to.named }, port);

      before(() => {
        objects = renderKustomization(join(K8S_DIR, 'overlays', overlay));
        policies = objects.filter((o) => o.kind === 'NetworkPolicy');
        const template = podTemplates(objects).find((t) => t.labels['app.kubernetes.io/component'] === 'worker')!;
        worker = { namespace: template.owner.metadata.namespace, labels: template.labels };
        stranger = { namespace: template.owner.metadata.namespace, labels: { app: 'something-else' } };
      });

      it('on-demand pool pods: the pod spec the fleet creates declares each advertised port, listens on it, and the NetworkPolicy lets workers in', async () => {
        const config = named('ConfigMap', 'rpa-system-config')!;
        const backend = new KubernetesPoolBackend({
          core: {} as CoreV1Api,
          namespace: browserNamespace(),
          image: config.data['browser-k8s-image'],
          poolPort: Number(config.data['browser-k8s-pool-port']),
          token: 'x'.repeat(16),
          tokenSecret: config.data['browser-k8s-token-secret'],
          resources: { cpuRequest: '1', cpuLimit: '1', memory: '1Gi' },
          instance: config.data['browser-k8s-instance'],
          owner: { name: 'rpa-worker-abc', uid: 'u' },
          readyTimeoutMs: 1000,
          logger: testLogger,
        });
        const pod = backend.podSpec('rpa-browser-rpa-0123abcd');
        const target = podPorts(pod.metadata!.labels!, pod.spec);
        const ports = await advertisedPorts(pool, backend.poolUrl('10.128.4.17'));
        expect(ports, 'one port: the API and the browsers').to.have.length(1);
        for (const port of ports) {
          expect(target.ports, `pod declares ${port}`).to.include(port);
          expect(target.listens, 'the pool listens on it').to.equal(port);
          expect(allows(worker, target, port), `NetworkPolicy lets workers reach ${port}`).to.equal(true);
          expect(allows(stranger, target, port), `and nothing else`).to.equal(false);
        }
      });

      it('the fixed pool: its Service, container and NetworkPolicy declare each advertised port', async () => {
        const service = named('Service', 'rpa-browser-pool')!;
        const deployment = named('Deployment', 'rpa-browser-pool')!;
        const template = deployment.spec.template;
        const target = podPorts(template.metadata.labels, template.spec);
        expect(selectorMatches({ matchLabels: service.spec.selector }, target.labels), 'the Service selects the pool pods').to.equal(true);
        for (const servicePort of service.spec.ports) {
          const ports = await advertisedPorts(pool, `http://${service.metadata.name}:${servicePort.port}`);
          expect(ports).to.have.length(1);
          for (const port of ports) {
            const declared = service.spec.ports.find((p: any) => p.port === port);
            expect(declared, `Service declares ${port}`).to.exist;
            const containerPort = typeof declared.targetPort === 'string' ? target.named.get(declared.targetPort) : declared.targetPort ?? declared.port;
            expect(target.ports, `container declares the target of ${port}`).to.include(containerPort);
            expect(target.listens, 'the pool listens on it').to.equal(containerPort);
            expect(allows(worker, target, containerPort!), `NetworkPolicy lets workers reach ${containerPort}`).to.equal(true);
          }
        }
      });
    });
  }
});
