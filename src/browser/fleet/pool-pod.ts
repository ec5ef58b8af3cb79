import type { V1Pod } from '@kubernetes/client-node';

/**
 * Labels on every pool pod the fleet creates; the NetworkPolicies, the orphan clean-up and the
 * fixed pool's selector depend on them (the `managed-by` value is kept as it was, so a new
 * worker still recognises the pods an earlier version made).
 */
export const POOL_POD_LABELS = {
  'app.kubernetes.io/name': 'rpa-orchestrator',
  'app.kubernetes.io/component': 'browser-pool',
  'app.kubernetes.io/managed-by': 'rpa-browser-service-manager',
} as const;
/** Label naming the worker pod (the fleet leader) that created a pool pod. */
export const MANAGER_LABEL = 'rpa.io/manager';
/** The Secret key that holds the pool token. */
export const TOKEN_SECRET_KEY = 'browser-pool-token';

export interface PoolPodOptions {
  name: string;
  namespace: string;
  image: string;
  /** The pool's one port: the container declares it, the probes and the fleet use it. */
  poolPort: number;
  /** Secret holding `browser-pool-token`: the pod reads the token by reference, never in its spec. */
  tokenSecret: string;
  resources: { cpuRequest: string; cpuLimit: string; memory: string };
  /** `app.kubernetes.io/instance` label value. */
  instance: string;
  /**
   * The worker pod that creates it. In the pool pods' namespace it owns them, so they go when it
   * goes; in another namespace Kubernetes allows no owner reference across namespaces (the
   * garbage collector would delete the pods at once), so the fleet deletes them itself, and a new
   * manager deletes those whose worker pod is gone (its uid is in an annotation).
   */
  owner?: { name: string; uid: string; namespace?: string };
}

/** Annotation with the creating worker pod's uid (a pod of the same name may replace it). */
export const MANAGER_UID_ANNOTATION = 'rpa.io/manager-uid';

/** Labels of a new pool pod. */
export function poolPodLabels(instance: string, manager: string | undefined): Record<string, string> {
  return { ...POOL_POD_LABELS, 'app.kubernetes.io/instance': instance, [MANAGER_LABEL]: manager ?? 'none' };
}

/**
 * The pod a pool runs in: one container serving the pool's API and its browsers on `poolPort`
 * alone (the browsers' own servers bind 127.0.0.1 inside it), the Pod Security Standards'
 * restricted profile, no service-account token.
 */
export function poolPodSpec(o: PoolPodOptions): V1Pod {
  const restricted = {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: o.name,
      namespace: o.namespace,
      labels: poolPodLabels(o.instance, o.owner?.name),
      annotations: o.owner ? { [MANAGER_UID_ANNOTATION]: o.owner.uid } : undefined,
      ownerReferences:
        o.owner && (o.owner.namespace ?? o.namespace) === o.namespace
          ? // blockOwnerDeletion would need the finalizers permission on pods; the Role grants no more than it must.
            [{ apiVersion: 'v1', kind: 'Pod', name: o.owner.name, uid: o.owner.uid, controller: true, blockOwnerDeletion: false }]
          : undefined,
    },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 30,
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'browser-pool',
          image: o.image,
          imagePullPolicy: 'IfNotPresent',
          ports: [{ name: 'pool', containerPort: o.poolPort, protocol: 'TCP' }],
          env: [
            { name: 'RPA_ROLES', value: 'browser' },
            { name: 'HOST', value: '0.0.0.0' },
            { name: 'BROWSER_POOL_PORT', value: String(o.poolPort) },
            { name: 'BROWSER_POOL_TOKEN', valueFrom: { secretKeyRef: { name: o.tokenSecret, key: TOKEN_SECRET_KEY } } },
            { name: 'HOME', value: '/tmp' },
          ],
          resources: {
            requests: { cpu: o.resources.cpuRequest, memory: o.resources.memory },
            limits: { cpu: o.resources.cpuLimit, memory: o.resources.memory },
          },
          readinessProbe: { httpGet: { path: '/health/ready', port: 'pool' }, periodSeconds: 5, failureThreshold: 3 },
          livenessProbe: { httpGet: { path: '/health/live', port: 'pool' }, periodSeconds: 10, failureThreshold: 3, initialDelaySeconds: 10 },
          securityContext: restricted,
          volumeMounts: [
            { name: 'tmp', mountPath: '/tmp' },
            { name: 'dshm', mountPath: '/dev/shm' },
          ],
        },
      ],
      volumes: [
        { name: 'tmp', emptyDir: { sizeLimit: '1Gi' } },
        { name: 'dshm', emptyDir: { medium: 'Memory', sizeLimit: '512Mi' } },
      ],
    },
  };
}
