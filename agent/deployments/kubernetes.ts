import { ApiException, AppsV1Api, CoreV1Api, KubeConfig, NetworkingV1Api, type V1Deployment } from '@kubernetes/client-node';
import type {
  Deployment, DeploymentKeys, DeploymentList, DeploymentListQuery, DeploymentPatch, DeploymentRequest, DeploymentSpec, DeploymentAccess, DeploymentTarget, Readyz, RotatedKey,
} from '../../protocol/control-plane.js';
import { CrucibleError } from '../../protocol/errors.js';
import { type CustomModels, kindOf } from '../catalog/custom-models.js';
import { type KeyPair, freshKeyPair, rotatedKey } from '../keys.js';
import { type DeploymentBackend, applyPatch, authDisabled, notFound } from './backend.js';
import {
  type BuildOptions, MANAGED_BY, MODEL_ANNOTATION, SPEC_ANNOTATION, deploymentObject, ingressObject, keysSecret, keysSecretName, objectsFor, serviceObject,
} from './k8s-objects.js';

const SELECTOR = `app.kubernetes.io/managed-by=${MANAGED_BY}`;
const UPDATED_ANNOTATION = 'crucible.dev/updated-at';

/** Records when the backend last wrote a Deployment (the status's metadata.updatedAt). */
function stamp(d: V1Deployment): V1Deployment {
  d.metadata!.annotations = { ...d.metadata!.annotations, [UPDATED_ANNOTATION]: new Date().toISOString() };
  return d;
}

/** A Kubernetes API failure as the control plane's error. */
function fromApi(err: unknown, ns: string, name: string): unknown {
  if (err instanceof ApiException) {
    if (err.code === 404) return notFound(ns, name);
    if (err.code === 409) return new CrucibleError('conflict', `deployment '${name}' already exists in namespace '${ns}'`, 'name');
    return new CrucibleError('internal_error', `Kubernetes API error ${err.code}: ${typeof err.body === 'string' ? err.body : JSON.stringify(err.body)}`);
  }
  return err;
}

/**
 * Deployments on Kubernetes, as seed 003's operator runs them: per deployment a Deployment of
 * `replicas` agent pods, a Service, an Ingress when spec.endpoint names a host, and the keys in a
 * Secret. Every object comes from k8s-objects.ts (validated against the Kubernetes schemas in
 * the tests). The data plane is the pods' own, behind the Service; this agent serves none of it.
 */
export class KubernetesDeployments implements DeploymentBackend {
  readonly kind = 'kubernetes' as const;

  constructor(
    private readonly apps: AppsV1Api,
    private readonly core: CoreV1Api,
    private readonly net: NetworkingV1Api,
    private readonly opts: { image: string; customs: CustomModels },
  ) {}

  /** `in-cluster` uses the pod's service account; anything else is a kubeconfig file. */
  static async fromKubeconfig(file: string, opts: { image: string; customs: CustomModels }): Promise<KubernetesDeployments> {
    const kc = new KubeConfig();
    if (file === 'in-cluster') kc.loadFromCluster();
    else kc.loadFromFile(file);
    return new KubernetesDeployments(kc.makeApiClient(AppsV1Api), kc.makeApiClient(CoreV1Api), kc.makeApiClient(NetworkingV1Api), opts);
  }

  async readyz(): Promise<Readyz> {
    try {
      await this.core.getAPIResources();
      return { status: 'ready', kubernetes: 'connected', backend: 'kubernetes' };
    } catch (err) {
      return { status: 'not ready', kubernetes: 'disconnected', backend: 'kubernetes', error: (err as Error).message };
    }
  }

  /** How the pods get the model the spec names. */
  private modelOf(spec: DeploymentSpec): BuildOptions['model'] {
    const m = spec.model;
    if (m.catalog) return { kind: 'catalog', name: m.catalog.version && m.catalog.version !== 'latest' ? `${m.catalog.name}:${m.catalog.version}` : m.catalog.name };
    const image = (r: { registry: string; repository: string; tag?: string; credentials?: { secretRef: { name: string } } }, name: string) =>
      ({ kind: 'image' as const, name, image: `${r.registry}/${r.repository}:${r.tag ?? 'latest'}`, pullSecret: r.credentials?.secretRef.name });
    if (m.custom) return image(m.custom, m.custom.repository.split('/').pop()!.toLowerCase());
    const custom = this.opts.customs.get(m.ref!);
    if (custom && kindOf(custom.request) === 'registry') {
      const c = custom.request.source.custom;
      return image({ registry: c.registry!, repository: c.repository!, tag: c.tag, credentials: c.credentials }, custom.name);
    }
    if (custom) throw new CrucibleError('invalid_request', `custom model '${m.ref}' is a ${kindOf(custom.request)} on this machine; pods cannot reach it`, 'spec.model.ref');
    return { kind: 'cached', name: m.ref! };
  }

  /** Pods listen beyond loopback, which the agent does only with keys. */
  private requireAuth(spec: DeploymentSpec): void {
    if (!spec.authentication?.enabled) {
      throw new CrucibleError('invalid_request', 'the kubernetes backend needs spec.authentication.enabled: an agent listens beyond loopback only with keys', 'spec.authentication.enabled');
    }
  }

  private build(ns: string, name: string, spec: DeploymentSpec, keys: KeyPair) {
    this.requireAuth(spec);
    const objs = objectsFor(ns, name, spec, keys, { image: this.opts.image, model: this.modelOf(spec) });
    stamp(objs.deployment);
    return objs;
  }

  async list(ns: string | null, q: DeploymentListQuery): Promise<DeploymentList> {
    const params = { labelSelector: SELECTOR, limit: q.limit ?? 100, _continue: q.continue };
    const res = await (ns === null ? this.apps.listDeploymentForAllNamespaces(params) : this.apps.listNamespacedDeployment({ namespace: ns, ...params }))
      .catch((err) => { throw fromApi(err, ns ?? '', ''); });
    const items = await Promise.all(res.items.map((d) => this.view(d)));
    return { items, count: items.length, continueToken: res.metadata?._continue || null };
  }

  private async read(ns: string, name: string): Promise<V1Deployment> {
    const d = await this.apps.readNamespacedDeployment({ name, namespace: ns }).catch((err) => { throw fromApi(err, ns, name); });
    if (d.metadata?.labels?.['app.kubernetes.io/managed-by'] !== MANAGED_BY) throw notFound(ns, name);
    return d;
  }

  async get(ns: string, name: string): Promise<Deployment> {
    return this.view(await this.read(ns, name));
  }

  async create(ns: string, body: DeploymentRequest): Promise<Deployment> {
    const objs = this.build(ns, body.name, body.spec, freshKeyPair());
    const fail = (err: unknown) => { throw fromApi(err, ns, body.name); };
    await this.core.createNamespacedSecret({ namespace: ns, body: objs.secret }).catch(fail);
    const created = await this.apps.createNamespacedDeployment({ namespace: ns, body: objs.deployment }).catch(fail);
    await this.core.createNamespacedService({ namespace: ns, body: objs.service }).catch(fail);
    if (objs.ingress) await this.net.createNamespacedIngress({ namespace: ns, body: objs.ingress }).catch(fail);
    return this.view(created);
  }

  private async apply(ns: string, name: string, spec: DeploymentSpec): Promise<Deployment> {
    this.requireAuth(spec);
    const opts = { image: this.opts.image, model: this.modelOf(spec) };
    const fail = (err: unknown) => { throw fromApi(err, ns, name); };
    const updated = await this.apps.replaceNamespacedDeployment({ name, namespace: ns, body: stamp(deploymentObject(ns, name, spec, opts)) }).catch(fail);
    await this.core.replaceNamespacedService({ name, namespace: ns, body: serviceObject(ns, name, spec) }).catch(fail);
    const ingress = ingressObject(ns, name, spec);
    if (ingress) {
      await this.net.replaceNamespacedIngress({ name, namespace: ns, body: ingress })
        .catch(() => this.net.createNamespacedIngress({ namespace: ns, body: ingress })).catch(fail);
    } else {
      await this.net.deleteNamespacedIngress({ name, namespace: ns }).catch(() => undefined);
    }
    return this.view(updated);
  }

  async replace(ns: string, name: string, body: DeploymentRequest): Promise<Deployment> {
    if (body.name !== name) throw new CrucibleError('invalid_request', `the body's name '${body.name}' differs from the path's '${name}'`, 'name');
    await this.read(ns, name);
    return this.apply(ns, name, body.spec);
  }

  async patch(ns: string, name: string, patch: DeploymentPatch): Promise<Deployment> {
    const current = specOf(await this.read(ns, name));
    return this.apply(ns, name, applyPatch(current, patch));
  }

  async delete(ns: string, name: string): Promise<void> {
    await this.read(ns, name);
    const ignore404 = (err: unknown) => { if (!(err instanceof ApiException && err.code === 404)) throw fromApi(err, ns, name); };
    await this.net.deleteNamespacedIngress({ name, namespace: ns }).catch(ignore404);
    await this.core.deleteNamespacedService({ name, namespace: ns }).catch(ignore404);
    await this.apps.deleteNamespacedDeployment({ name, namespace: ns }).catch(ignore404);
    await this.core.deleteNamespacedSecret({ name: keysSecretName(name), namespace: ns }).catch(ignore404);
  }

  private async keysOf(ns: string, name: string): Promise<KeyPair> {
    const s = await this.core.readNamespacedSecret({ name: keysSecretName(name), namespace: ns }).catch((err) => { throw fromApi(err, ns, name); });
    const raw = s.data?.['keys.json'];
    if (!raw) throw authDisabled(ns, name);
    return JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as KeyPair;
  }

  async getKeys(ns: string, name: string): Promise<DeploymentKeys> {
    const d = await this.read(ns, name);
    if (!specOf(d).authentication?.enabled) throw authDisabled(ns, name);
    return { deploymentName: name, namespace: ns, ...(await this.keysOf(ns, name)) };
  }

  /** Replaces the Secret; the kubelet refreshes the mounted file and each pod's agent re-reads it. */
  async rotateKey(ns: string, name: string, keyType: 'primary' | 'secondary'): Promise<RotatedKey> {
    const keys = (await this.getKeys(ns, name));
    const key = rotatedKey();
    const next = { primaryKey: keys.primaryKey, secondaryKey: keys.secondaryKey, [`${keyType}Key`]: key } as KeyPair;
    await this.core.replaceNamespacedSecret({ name: keysSecretName(name), namespace: ns, body: keysSecret(ns, name, next) })
      .catch((err) => { throw fromApi(err, ns, name); });
    return { deploymentName: name, namespace: ns, keyType, key };
  }

  async access(ns: string, name: string): Promise<DeploymentAccess> {
    return this.target(ns, name) as never;
  }

  async target(ns: string, name: string): Promise<DeploymentTarget> {
    throw new CrucibleError('not_found', `deployment '${ns}/${name}' runs on Kubernetes: call its Service (or Ingress), not this agent`);
  }

  async close(): Promise<void> {}

  private async view(d: V1Deployment): Promise<Deployment> {
    const ns = d.metadata?.namespace ?? 'default';
    const name = d.metadata?.name ?? '';
    const spec = specOf(d);
    const st = d.status ?? {};
    const ready = st.readyReplicas ?? 0;
    const conditions = (st.conditions ?? []).map((c) => ({
      type: c.type, status: (['True', 'False'].includes(c.status) ? c.status : 'Unknown') as 'True' | 'False' | 'Unknown',
      reason: c.reason ?? null, message: c.message ?? null,
      lastTransitionTime: c.lastTransitionTime ? new Date(c.lastTransitionTime).toISOString() : new Date(0).toISOString(),
    }));
    const failed = conditions.some((c) => c.type === 'Progressing' && c.status === 'False');
    const state = d.metadata?.deletionTimestamp ? 'Terminating' : failed ? 'Error'
      : ready >= spec.replicas && (st.updatedReplicas ?? 0) >= spec.replicas ? 'Running'
        : (d.metadata?.generation ?? 1) > 1 ? 'Updating' : 'Creating';
    const ep = spec.endpoint;
    return {
      name, namespace: ns, spec,
      status: {
        state, message: conditions.find((c) => c.type === 'Available')?.message ?? null,
        replicas: spec.replicas, readyReplicas: ready, deploymentReady: ready >= spec.replicas, serviceReady: true,
        internalEndpoint: `http://${name}.${ns}.svc.cluster.local:${spec.port}`,
        externalEndpoint: ep?.host ? `${ep.tls?.enabled ? 'https' : 'http'}://${ep.host}${ep.path ?? ''}` : null,
        resolvedModel: { name: d.metadata?.annotations?.[MODEL_ANNOTATION] ?? '', variant: null, image: d.spec?.template.spec?.containers[0]?.image ?? null },
        authentication: { enabled: spec.authentication?.enabled === true, keysSecretName: keysSecretName(name), primaryKeyCreatedAt: null, secondaryKeyCreatedAt: null },
        conditions,
      },
      metadata: {
        uid: d.metadata?.uid ?? '', generation: d.metadata?.generation ?? 1,
        createdAt: d.metadata?.creationTimestamp ? new Date(d.metadata.creationTimestamp).toISOString() : new Date(0).toISOString(),
        updatedAt: d.metadata?.annotations?.[UPDATED_ANNOTATION] ?? (d.metadata?.creationTimestamp ? new Date(d.metadata.creationTimestamp).toISOString() : new Date(0).toISOString()),
      },
    };
  }
}

/** The seed's spec as the backend stored it on the Deployment. */
function specOf(d: V1Deployment): DeploymentSpec {
  try {
    return JSON.parse(d.metadata?.annotations?.[SPEC_ANNOTATION] ?? '') as DeploymentSpec;
  } catch {
    throw new CrucibleError('internal_error', `deployment ${d.metadata?.namespace}/${d.metadata?.name} carries no ${SPEC_ANNOTATION} annotation`);
  }
}
