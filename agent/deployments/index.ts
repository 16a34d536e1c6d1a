import { join } from 'node:path';
import type { CacheOps } from '../cache-ops.js';
import { CustomModels } from '../catalog/custom-models.js';
import type { Config } from '../config.js';
import type { DeviceProbe } from '../devices.js';
import type { Logger } from '../log.js';
import type { Registry } from '../registry.js';
import type { DeploymentBackend } from './backend.js';
import { ControlPlane } from './control-plane.js';
import { LocalDeployments } from './local.js';

export const truthy = (v: string) => v !== '' && v !== '0' && v.toLowerCase() !== 'false';

/**
 * Seed 003's control plane for one agent: custom models in <home>/custom-models.json and
 * deployments run locally (persisted in <home>/deployments.json) or, with --kubeconfig, on
 * Kubernetes. `start` brings persisted local deployments back once the HTTP address is known.
 */
export async function createControlPlane(config: Config, deps: {
  registry: Registry; cache: CacheOps; devices: DeviceProbe; log: Logger; baseUrl: () => string;
}): Promise<{ control: ControlPlane; start(): void; close(): Promise<void> }> {
  const customs = new CustomModels(join(config.home, 'custom-models.json'), config.modelsDir, deps.cache, truthy(config.allowPrivateRegistries));
  let backend: DeploymentBackend;
  let start = () => {};
  if (config.kubeconfig) {
    const { KubernetesDeployments } = await import('./kubernetes.js');
    backend = await KubernetesDeployments.fromKubeconfig(config.kubeconfig, { image: config.image, customs });
  } else {
    const local = new LocalDeployments({
      file: join(config.home, 'deployments.json'),
      registry: deps.registry,
      cache: deps.cache,
      customs,
      providers: () => deps.devices.automatic(),
      baseUrl: deps.baseUrl,
      log: (msg, detail) => deps.log.info(detail ?? {}, msg),
    });
    backend = local;
    start = () => local.start();
  }
  return { control: new ControlPlane(deps.registry, deps.cache, customs, backend), start, close: () => backend.close() };
}
