import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type {
  Condition, Deployment, DeploymentKeys, DeploymentList, DeploymentListQuery, DeploymentPatch, DeploymentRequest, DeploymentSpec,
  DeploymentAccess, DeploymentState, DeploymentTarget, Readyz, RotatedKey,
} from '../../protocol/control-plane.js';
import { CrucibleError } from '../../protocol/errors.js';
import { writeFileAtomic } from '../atomic-file.js';
import type { CacheOps } from '../cache-ops.js';
import { type CustomModels, kindOf } from '../catalog/custom-models.js';
import type { ModelEntry } from '../discovery.js';
import { type KeyPair, freshKeyPair, keyMatches, rotatedKey } from '../keys.js';
import type { Registry } from '../registry.js';
import { type DeploymentBackend, applyPatch, authDisabled, notFound, page } from './backend.js';

/** What deployments.json keeps of a deployment (mode 0600: it holds the keys). */
interface DeploymentRecord {
  name: string;
  namespace: string;
  spec: DeploymentSpec;
  keys: KeyPair | null;
  uid: string;
  generation: number;
  createdAt: string;
  updatedAt: string;
}

/** What the agent observed while reconciling; not persisted. */
interface Observed {
  state: DeploymentState;
  message: string | null;
  resolved: { name: string; variant: string | null } | null;
  conditions: Condition[];
  /** Bumped by every reconcile: a slower, older one does not overwrite a newer one's outcome. */
  run: number;
}

export interface LocalDeploymentsDeps {
  file: string;
  registry: Registry;
  cache: CacheOps;
  customs: CustomModels;
  /** Execution providers that run here, best first. */
  providers: () => Promise<string[]>;
  /** The agent's HTTP address, for internalEndpoint. */
  baseUrl: () => string;
  log: (msg: string, detail?: Record<string, unknown>) => void;
}

/** The registry's id of a deployment's own entry. */
export const deploymentModelId = (ns: string, name: string) => `deployments/${ns}/${name}`;

/** The data plane's path of a deployment: `/deployments/<name>` in `default`, else under its namespace. */
export const dataPath = (ns: string, name: string) => (ns === 'default' ? `/deployments/${name}` : `/namespaces/${ns}/deployments/${name}`);

const condition = (type: string, ok: boolean | null, reason: string, message: string | null): Condition => ({
  type, status: ok === null ? 'Unknown' : ok ? 'True' : 'False', reason, message, lastTransitionTime: new Date().toISOString(),
});

/**
 * Deployments on this machine: each is a named, kept-loaded model in the registry with its own
 * worker replicas and queue limit, served under its own path and, with authentication enabled,
 * only to its own primary and secondary keys. Persisted in deployments.json and brought back up
 * when the agent starts.
 */
export class LocalDeployments implements DeploymentBackend {
  readonly kind = 'local' as const;
  private records: DeploymentRecord[] = [];
  private readonly observed = new Map<string, Observed>();
  private closed = false;

  constructor(private readonly deps: LocalDeploymentsDeps) {
    try {
      const list = JSON.parse(readFileSync(deps.file, 'utf8'));
      if (Array.isArray(list)) this.records = list;
    } catch {
      // None yet.
    }
  }

  /** Brings every persisted deployment up again (in the background, like a create). */
  start(): void {
    for (const r of this.records) void this.reconcile(r, 'Creating');
  }

  async readyz(): Promise<Readyz> {
    return { status: 'ready', kubernetes: 'not configured', backend: 'local' };
  }

  private key(ns: string, name: string): string {
    return `${ns}/${name}`;
  }

  private find(ns: string, name: string): DeploymentRecord {
    const r = this.records.find((d) => d.namespace === ns && d.name === name);
    if (!r) throw notFound(ns, name);
    return r;
  }

  private save(records = this.records): void {
    writeFileAtomic(this.deps.file, JSON.stringify(records, null, 2));
  }

  async list(ns: string | null, q: DeploymentListQuery): Promise<DeploymentList> {
    const { items, continueToken } = page(this.records.filter((r) => ns === null || r.namespace === ns), q);
    return { items: items.map((r) => this.view(r)), count: items.length, continueToken };
  }

  async get(ns: string, name: string): Promise<Deployment> {
    return this.view(this.find(ns, name));
  }

  async create(ns: string, body: DeploymentRequest): Promise<Deployment> {
    if (this.records.some((d) => d.namespace === ns && d.name === body.name)) {
      throw new CrucibleError('conflict', `deployment '${body.name}' already exists in namespace '${ns}'`, 'name');
    }
    const now = new Date().toISOString();
    const record: DeploymentRecord = {
      name: body.name, namespace: ns, spec: body.spec, keys: body.spec.authentication?.enabled ? freshKeyPair(now) : null,
      uid: randomUUID(), generation: 1, createdAt: now, updatedAt: now,
    };
    // Stored before it counts: a deployment that could not be persisted does not exist.
    this.save([...this.records, record]);
    this.records.push(record);
    this.observe(record, { state: 'Creating', message: 'resolving and loading the model', resolved: null, conditions: [] });
    void this.reconcile(record, 'Creating');
    return this.view(record);
  }

  async replace(ns: string, name: string, body: DeploymentRequest): Promise<Deployment> {
    const record = this.find(ns, name);
    if (body.name !== name) throw new CrucibleError('invalid_request', `the body's name '${body.name}' differs from the path's '${name}'`, 'name');
    const enabled = body.spec.authentication?.enabled === true;
    record.keys = enabled ? record.keys ?? freshKeyPair() : null;
    return this.update(record, body.spec);
  }

  async patch(ns: string, name: string, patch: DeploymentPatch): Promise<Deployment> {
    const record = this.find(ns, name);
    return this.update(record, applyPatch(record.spec, patch));
  }

  private update(record: DeploymentRecord, spec: DeploymentSpec): Deployment {
    const before = JSON.stringify(serving(record.spec));
    record.spec = spec;
    record.generation++;
    record.updatedAt = new Date().toISOString();
    this.save();
    // Only what changes the workers reloads them; env, resources and endpoint are bookkeeping here.
    if (JSON.stringify(serving(spec)) !== before) {
      const o = this.observed.get(this.key(record.namespace, record.name));
      this.observe(record, { state: 'Updating', message: 'reloading with the new spec', resolved: o?.resolved ?? null, conditions: o?.conditions ?? [] });
      void this.reconcile(record, 'Updating');
    }
    return this.view(record);
  }

  async delete(ns: string, name: string): Promise<void> {
    const record = this.find(ns, name);
    this.observe(record, { state: 'Terminating', message: 'stopping its workers', resolved: null, conditions: [] });
    this.records = this.records.filter((r) => r !== record);
    this.save();
    await this.deps.registry.unpin(deploymentModelId(ns, name));
    this.observed.delete(this.key(ns, name));
  }

  async getKeys(ns: string, name: string): Promise<DeploymentKeys> {
    const record = this.find(ns, name);
    if (!record.keys) throw authDisabled(ns, name);
    return { deploymentName: name, namespace: ns, ...record.keys };
  }

  async rotateKey(ns: string, name: string, keyType: 'primary' | 'secondary'): Promise<RotatedKey> {
    const record = this.find(ns, name);
    if (!record.keys) throw authDisabled(ns, name);
    const key = rotatedKey();
    // In memory first: the old key is refused from this moment on.
    record.keys = { ...record.keys, [`${keyType}Key`]: key } as KeyPair;
    this.save();
    return { deploymentName: name, namespace: ns, keyType, key };
  }

  async access(ns: string, name: string, key: string | undefined): Promise<DeploymentAccess> {
    const record = this.find(ns, name);
    const m = record.spec.model;
    const models = [m.catalog?.name, m.ref, this.observed.get(this.key(ns, name))?.resolved?.name]
      .filter((x): x is string => typeof x === 'string' && x !== '');
    if (!record.keys) return { authentication: false, matchedKey: null, models };
    // Both compared, whichever matches: the time taken says nothing about which.
    const primary = keyMatches(key, [record.keys.primaryKey.value]);
    const secondary = keyMatches(key, [record.keys.secondaryKey.value]);
    return { authentication: true, matchedKey: primary ? 'primary' : secondary ? 'secondary' : null, models };
  }

  async target(ns: string, name: string): Promise<DeploymentTarget> {
    this.find(ns, name);
    const id = deploymentModelId(ns, name);
    if (!this.deps.registry.pinnedInfo(id)) {
      // Not handed to the registry yet: still resolving (or downloading) its model, or failed to.
      const o = this.observed.get(this.key(ns, name));
      if (o?.state === 'Error') throw new CrucibleError('model_load_failed', `deployment '${name}' is in Error: ${o.message}`);
      const err = new CrucibleError('overloaded', `deployment '${name}' is ${o?.state ?? 'Pending'} and not ready yet: ${o?.message ?? ''}`);
      err.retryAfter = 1;
      throw err;
    }
    return { model: id };
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private observe(record: DeploymentRecord, o: Omit<Observed, 'run'>): Observed {
    const k = this.key(record.namespace, record.name);
    const next = { ...o, run: (this.observed.get(k)?.run ?? 0) + 1 };
    this.observed.set(k, next);
    return next;
  }

  /** The registry name of the model a spec names, downloading a catalog model that is not cached yet. */
  private async resolveBase(spec: DeploymentSpec): Promise<ModelEntry> {
    const m = spec.model;
    if (m.custom) {
      throw new CrucibleError('invalid_request', 'an inline registry reference (spec.model.custom) runs only on the kubernetes backend: one machine cannot pull model images');
    }
    if (m.ref !== undefined) {
      const custom = this.deps.customs.get(m.ref);
      if (custom) {
        const name = this.deps.customs.registryName(custom);
        if (name === null) throw new CrucibleError('invalid_request', `custom model '${m.ref}' is a ${kindOf(custom.request)} reference, which runs only on the kubernetes backend`);
        return this.deps.registry.resolve(name);
      }
      return this.deps.registry.resolve(m.ref);
    }
    const name = m.catalog!.version && m.catalog!.version !== 'latest' && !m.catalog!.name.includes(':')
      ? `${m.catalog!.name}:${m.catalog!.version}` : m.catalog!.name;
    try {
      return this.deps.registry.resolve(name);
    } catch (err) {
      if (!(err instanceof CrucibleError) || err.code !== 'model_not_found') throw err;
      const { model } = await this.deps.cache.download({ model: name, foundryStyle: false }, {});
      return this.deps.registry.resolve(model);
    }
  }

  /** Resolves the model, checks the workload and compute, and (re)loads the deployment's workers. */
  private async reconcile(record: DeploymentRecord, phase: 'Creating' | 'Updating'): Promise<void> {
    const k = this.key(record.namespace, record.name);
    const prev = this.observed.get(k);
    const mine = this.observe(record, { state: phase, message: prev?.message ?? 'loading', resolved: prev?.resolved ?? null, conditions: prev?.conditions ?? [] });
    const current = () => !this.closed && this.observed.get(k)?.run === mine.run;
    const spec = record.spec;
    const id = deploymentModelId(record.namespace, record.name);
    let base: ModelEntry | null = null;
    try {
      base = await this.resolveBase(spec);
      const predictive = base.task !== 'chat';
      if (predictive !== (spec.workloadType === 'predictive')) {
        throw new CrucibleError('invalid_request', `'${base.id}' is a ${predictive ? 'predictive' : 'generative'} model; spec.workloadType is ${spec.workloadType}`);
      }
      let ep: string | undefined;
      // Probed before the load, which checks a GPU variant's provider against what runs here.
      const automatic = await this.deps.providers();
      if (spec.compute === 'gpu') {
        ep = automatic.find((p) => p !== 'cpu');
        if (!ep) throw new CrucibleError('invalid_request', 'spec.compute is gpu but no GPU execution provider runs on a hardware adapter here');
      }
      if (!current()) return;
      const entry: ModelEntry = {
        ...base, id, alias: null,
        settings: { ...base.settings, replicas: spec.replicas, ...(spec.maxQueue !== undefined ? { maxQueue: spec.maxQueue } : {}) },
      };
      await this.deps.registry.pin(entry, { ep });
      if (!current()) return;
      const info = this.deps.registry.pinnedInfo(id);
      this.observe(record, {
        state: 'Running', message: `${spec.replicas} worker replica(s) serving ${base.id}`,
        resolved: { name: base.id, variant: info?.variant ?? info?.onnxFile ?? null },
        conditions: [
          condition('ModelResolved', true, 'Resolved', base.id),
          condition('Available', true, 'ReplicasReady', `${spec.replicas}/${spec.replicas} replicas ready`),
          condition('Progressing', true, 'RolloutComplete', null),
        ],
      });
      this.deps.log('deployment running', { deployment: k, model: base.id, replicas: spec.replicas });
    } catch (err) {
      if (!current()) return;
      const message = (err as Error).message;
      this.observe(record, {
        state: 'Error', message, resolved: base ? { name: base.id, variant: null } : null,
        conditions: [
          condition('ModelResolved', base !== null, base ? 'Resolved' : 'ResolutionFailed', base ? base.id : message),
          condition('Available', false, 'LoadFailed', message),
        ],
      });
      this.deps.log('deployment failed', { deployment: k, error: message });
    }
  }

  private view(r: DeploymentRecord): Deployment {
    const o = this.observed.get(this.key(r.namespace, r.name));
    const info = this.deps.registry.pinnedInfo(deploymentModelId(r.namespace, r.name));
    let state = o?.state ?? 'Pending';
    // A worker that died since: the registry marks the model failed and reloads on the next request.
    if (state === 'Running' && info?.state === 'failed') state = 'Error';
    const ready = state === 'Running' && info?.state === 'loaded' ? r.spec.replicas : 0;
    const ep = r.spec.endpoint;
    return {
      name: r.name,
      namespace: r.namespace,
      spec: r.spec,
      status: {
        state,
        message: state === 'Error' && info?.error ? info.error : o?.message ?? null,
        replicas: r.spec.replicas,
        readyReplicas: ready,
        deploymentReady: ready === r.spec.replicas,
        serviceReady: true,
        internalEndpoint: `${this.deps.baseUrl()}${dataPath(r.namespace, r.name)}`,
        externalEndpoint: ep?.host ? `${ep.tls?.enabled ? 'https' : 'http'}://${ep.host}${ep.path ?? ''}` : null,
        resolvedModel: o?.resolved ? { ...o.resolved, image: null } : null,
        authentication: {
          enabled: r.keys !== null,
          keysSecretName: null,
          primaryKeyCreatedAt: r.keys?.primaryKey.createdAt ?? null,
          secondaryKeyCreatedAt: r.keys?.secondaryKey.createdAt ?? null,
        },
        conditions: o?.conditions ?? [],
      },
      metadata: { uid: r.uid, generation: r.generation, createdAt: r.createdAt, updatedAt: r.updatedAt },
    };
  }
}

/** The parts of a spec that decide what the workers run. */
const serving = (s: DeploymentSpec) => ({ model: s.model, compute: s.compute, workloadType: s.workloadType, replicas: s.replicas, maxQueue: s.maxQueue });
