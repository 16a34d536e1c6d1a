import type {
  ControlPlaneApi, CustomModelRequest, Deployment, DeploymentKeys, DeploymentList, DeploymentListQuery, DeploymentPatch, DeploymentRequest,
  DeploymentAccess, DeploymentTarget, ModelDetail, ModelList, ModelListQuery, Readyz, RotatedKey,
} from '../../protocol/control-plane.js';
import { CrucibleError } from '../../protocol/errors.js';
import type { CacheOps } from '../cache-ops.js';
import type { CustomModels } from '../catalog/custom-models.js';
import { catalogDetail, catalogSummary, customDetail, customSummary, filterAndPage } from '../catalog/unified.js';
import type { Registry } from '../registry.js';
import type { DeploymentBackend } from './backend.js';

/**
 * Seed 003's control plane over the agent: the unified models API (the catalog and custom
 * models) and deployments, run by a backend (local worker replicas, or Kubernetes).
 */
export class ControlPlane implements ControlPlaneApi {
  constructor(
    private readonly registry: Registry,
    private readonly cache: CacheOps,
    private readonly customs: CustomModels,
    private readonly backend: DeploymentBackend,
  ) {}

  readyz(): Promise<Readyz> {
    return this.backend.readyz();
  }

  private runnable(name: string): boolean {
    const record = this.customs.get(name);
    const id = record ? this.customs.registryName(record) : null;
    if (id === null) return false;
    try {
      this.registry.resolve(id);
      return true;
    } catch {
      return false;
    }
  }

  async listModels(q: ModelListQuery): Promise<ModelList> {
    const catalog = (await this.cache.list()).map(catalogSummary);
    const custom = this.customs.list().map((r) => customSummary(r, this.runnable(r.name)));
    return filterAndPage([...catalog, ...custom], q, { lastSync: this.cache.lastSync });
  }

  async getCatalogModel(source: 'foundry-local' | 'foundry', name: string): Promise<ModelDetail> {
    if (source === 'foundry') {
      throw new CrucibleError('not_found', `'${name}' is not in the Microsoft Foundry catalog: no Foundry (vLLM) catalog is configured on this machine`, 'name');
    }
    const entry = await this.cache.resolveCatalog(name);
    if (!entry) throw new CrucibleError('not_found', `'${name}' is not in the Foundry Local catalog`, 'name');
    const listed = (await this.cache.list()).find((e) => e.name === entry.name);
    return catalogDetail(listed ?? { ...entry, cached: false });
  }

  async getCustomModel(name: string): Promise<ModelDetail> {
    const record = this.customs.get(name);
    if (!record) throw new CrucibleError('not_found', `no custom model named '${name}'`, 'name');
    return customDetail(record, this.runnable(name));
  }

  async createCustomModel(body: CustomModelRequest): Promise<ModelDetail> {
    const record = this.customs.create(body);
    return customDetail(record, this.runnable(record.name));
  }

  async replaceCustomModel(name: string, body: CustomModelRequest): Promise<ModelDetail> {
    const record = this.customs.replace(name, body);
    return customDetail(record, this.runnable(name));
  }

  async deleteCustomModel(name: string): Promise<{ status: 'deleted'; name: string }> {
    if (!this.customs.get(name)) throw new CrucibleError('not_found', `no custom model named '${name}'`, 'name');
    const users = (await this.backend.list(null, { limit: 500 })).items.filter((d) => d.spec.model.ref === name);
    if (users.length > 0) {
      throw new CrucibleError('conflict', `custom model '${name}' is used by deployment(s) ${users.map((d) => `${d.namespace}/${d.name}`).join(', ')}; delete them first`, 'name');
    }
    this.customs.delete(name);
    return { status: 'deleted', name };
  }

  async syncModels(): Promise<{ status: 'triggered'; message: string; syncedAt: string }> {
    const { remote, lastSync } = await this.cache.sync();
    return {
      status: 'triggered',
      message: remote ? (lastSync ? 'Catalog sync requested' : 'Catalog sync requested; the remote catalog did not answer, the cached copy stays')
        : 'Catalog sync requested; no remote catalog is configured (--catalog-url), the built-in catalog is current',
      syncedAt: new Date().toISOString(),
    };
  }

  listDeployments(ns: string | null, q: DeploymentListQuery): Promise<DeploymentList> {
    return this.backend.list(ns, q);
  }

  getDeployment(ns: string, name: string): Promise<Deployment> {
    return this.backend.get(ns, name);
  }

  createDeployment(ns: string, body: DeploymentRequest): Promise<Deployment> {
    return this.backend.create(ns, body);
  }

  replaceDeployment(ns: string, name: string, body: DeploymentRequest): Promise<Deployment> {
    return this.backend.replace(ns, name, body);
  }

  patchDeployment(ns: string, name: string, patch: DeploymentPatch): Promise<Deployment> {
    return this.backend.patch(ns, name, patch);
  }

  async deleteDeployment(ns: string, name: string): Promise<{ status: 'deleted'; name: string; namespace: string }> {
    await this.backend.delete(ns, name);
    return { status: 'deleted', name, namespace: ns };
  }

  getKeys(ns: string, name: string): Promise<DeploymentKeys> {
    return this.backend.getKeys(ns, name);
  }

  rotateKey(ns: string, name: string, keyType: 'primary' | 'secondary'): Promise<RotatedKey> {
    return this.backend.rotateKey(ns, name, keyType);
  }

  deploymentAccess(ns: string, name: string, key: string | undefined): Promise<DeploymentAccess> {
    return this.backend.access(ns, name, key);
  }

  deploymentTarget(ns: string, name: string): Promise<DeploymentTarget> {
    return this.backend.target(ns, name);
  }
}
