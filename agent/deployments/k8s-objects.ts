import type { V1Deployment, V1Ingress, V1Secret, V1Service } from '@kubernetes/client-node';
import type { DeploymentSpec } from '../../protocol/control-plane.js';
import type { KeyPair } from '../keys.js';

/** Where the image keeps things (see Dockerfile): the agent's home, its model cache and the keys Secret. */
export const POD_HOME = '/var/lib/crucible';
export const KEYS_DIR = '/etc/crucible/keys';
export const SPEC_ANNOTATION = 'crucible.dev/spec';
export const MODEL_ANNOTATION = 'crucible.dev/model';
export const MANAGED_BY = 'crucible';

export const labelsOf = (name: string) => ({
  'app.kubernetes.io/name': 'crucible',
  'app.kubernetes.io/instance': name,
  'app.kubernetes.io/managed-by': MANAGED_BY,
});

export const keysSecretName = (name: string) => `${name}-api-keys`;

export interface BuildOptions {
  /** The agent's image (Dockerfile at the repository root). */
  image: string;
  /**
   * How the pod gets its model: a catalog name downloaded by an init container, a model already in
   * the image or cache volume, or an OCI image whose /model folder an init container copies in.
   */
  model: { kind: 'catalog'; name: string } | { kind: 'cached'; name: string } | { kind: 'image'; name: string; image: string; pullSecret?: string };
}

/** The Secret holding a deployment's keys: the agent's keys-file format, mounted as --api-keys-file. */
export function keysSecret(ns: string, name: string, keys: KeyPair): V1Secret {
  return {
    apiVersion: 'v1', kind: 'Secret',
    metadata: { name: keysSecretName(name), namespace: ns, labels: labelsOf(name) },
    type: 'Opaque',
    stringData: { 'keys.json': JSON.stringify(keys), primaryKey: keys.primaryKey.value, secondaryKey: keys.secondaryKey.value },
  };
}

/** Kubernetes resource requirements from the seed's spec.resources (gpu as nvidia.com/gpu). */
function resourcesOf(spec: DeploymentSpec) {
  const r = spec.resources;
  const gpu = r?.limits?.gpu ?? (spec.compute === 'gpu' && !spec.skipGpuResource ? 1 : undefined);
  const requests = { ...(r?.requests?.cpu ? { cpu: r.requests.cpu } : {}), ...(r?.requests?.memory ? { memory: r.requests.memory } : {}) };
  const limits = {
    ...(r?.limits?.cpu ? { cpu: r.limits.cpu } : {}), ...(r?.limits?.memory ? { memory: r.limits.memory } : {}),
    ...(gpu !== undefined && !spec.skipGpuResource ? { 'nvidia.com/gpu': String(gpu) } : {}),
  };
  return { ...(Object.keys(requests).length ? { requests } : {}), ...(Object.keys(limits).length ? { limits } : {}) };
}

/**
 * The Deployment running `replicas` agents, each serving the model on `spec.port` with the keys
 * from the Secret; readiness on /ready, liveness on /health. The seed's spec rides along in an
 * annotation, so the backend reads back exactly what was asked.
 */
export function deploymentObject(ns: string, name: string, spec: DeploymentSpec, opts: BuildOptions): V1Deployment {
  const labels = labelsOf(name);
  const home = { name: 'CRUCIBLE_HOME', value: POD_HOME };
  const cli = (args: string) => `node build/clients/cli/main.js --home ${POD_HOME} ${args}`;
  const initContainers = opts.model.kind === 'catalog' ? [{
    name: 'fetch-model', image: opts.image, env: [home],
    command: ['sh', '-c', `${cli('service start')} && ${cli(`model download ${shellWord(opts.model.name)}`)}; status=$?; ${cli('service stop')}; exit $status`],
    volumeMounts: [{ name: 'home', mountPath: POD_HOME }],
  }] : opts.model.kind === 'image' ? [{
    name: 'fetch-model', image: opts.model.image,
    command: ['sh', '-c', `mkdir -p ${POD_HOME}/cache/models/custom && cp -r /model/. ${POD_HOME}/cache/models/custom/${opts.model.name}`],
    volumeMounts: [{ name: 'home', mountPath: POD_HOME }],
  }] : [];
  return {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name, namespace: ns, labels, annotations: { [SPEC_ANNOTATION]: JSON.stringify(spec), [MODEL_ANNOTATION]: opts.model.name } },
    spec: {
      replicas: spec.replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          ...(initContainers.length ? { initContainers } : {}),
          ...(opts.model.kind === 'image' && opts.model.pullSecret ? { imagePullSecrets: [{ name: opts.model.pullSecret }] } : {}),
          containers: [{
            name: 'crucible',
            image: opts.image,
            args: ['--host', '0.0.0.0', '--port', String(spec.port), '--api-keys-file', `${KEYS_DIR}/keys.json`, '--open-ready'],
            env: [home, ...(spec.env ?? [])],
            ports: [{ name: 'http', containerPort: spec.port, protocol: 'TCP' }],
            readinessProbe: { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 5, failureThreshold: 3 },
            livenessProbe: { httpGet: { path: '/health', port: 'http' }, periodSeconds: 10, failureThreshold: 6, initialDelaySeconds: 10 },
            resources: resourcesOf(spec),
            volumeMounts: [{ name: 'home', mountPath: POD_HOME }, { name: 'keys', mountPath: KEYS_DIR, readOnly: true }],
          }],
          volumes: [
            { name: 'home', emptyDir: {} },
            { name: 'keys', secret: { secretName: keysSecretName(name), defaultMode: 0o400 } },
          ],
          ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
          ...(spec.tolerations ? { tolerations: spec.tolerations } : {}),
        },
      },
    },
  };
}

export function serviceObject(ns: string, name: string, spec: DeploymentSpec): V1Service {
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name, namespace: ns, labels: labelsOf(name) },
    spec: { type: 'ClusterIP', selector: labelsOf(name), ports: [{ name: 'http', port: spec.port, targetPort: 'http', protocol: 'TCP' }] },
  };
}

/** An Ingress when spec.endpoint names a host. */
export function ingressObject(ns: string, name: string, spec: DeploymentSpec): V1Ingress | null {
  const ep = spec.endpoint;
  if (!ep?.host) return null;
  return {
    apiVersion: 'networking.k8s.io/v1', kind: 'Ingress',
    metadata: { name, namespace: ns, labels: labelsOf(name) },
    spec: {
      ...(ep.tls?.enabled ? { tls: [{ hosts: [ep.host], secretName: ep.tls.secretName ?? `${name}-tls` }] } : {}),
      rules: [{
        host: ep.host,
        http: { paths: [{ path: ep.path ?? '/', pathType: 'Prefix', backend: { service: { name, port: { name: 'http' } } } }] },
      }],
    },
  };
}

/** Everything the backend sends for one deployment. */
export function objectsFor(ns: string, name: string, spec: DeploymentSpec, keys: KeyPair, opts: BuildOptions) {
  return {
    deployment: deploymentObject(ns, name, spec, opts),
    service: serviceObject(ns, name, spec),
    ingress: ingressObject(ns, name, spec),
    secret: keysSecret(ns, name, keys),
  };
}

const shellWord = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
