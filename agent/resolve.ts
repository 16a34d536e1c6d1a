import { stripVersion, versionOf } from '../protocol/validate.js';

/** What the resolver needs to know of a model variant, cached or only in the catalog. */
export interface Variant {
  id: string;
  alias: string | null;
  /** onnxruntime-node's name of the variant's execution provider (`cpu`, `cuda`, `webgpu`...). */
  provider: string;
  /** The catalog's device type (`CPU`, `GPU`, `NPU`), when known. */
  deviceType?: string;
  cached: boolean;
}

/** Maps a catalog runtime's provider name (`CUDAExecutionProvider`) to onnxruntime-node's (`cuda`). */
export function providerName(executionProvider: string): string {
  const ep = executionProvider.toLowerCase().replace(/executionprovider$/, '');
  return ep === 'dml' || ep === 'directml' ? 'dml' : ep;
}

const NPU_PROVIDERS = new Set(['qnn', 'vitisai']);
const GENERIC_GPU_PROVIDERS = new Set(['webgpu', 'dml']);

/**
 * Foundry Local's order of devices, best first: 0 NPU, 1 vendor GPU (TensorRT RTX, OpenVINO on a
 * GPU...), 2 CUDA, 3 generic GPU (WebGPU, DirectML), 4 vendor CPU (OpenVINO on the CPU), 5 the
 * generic CPU.
 */
export function deviceRank(provider: string, deviceType?: string): number {
  const type = deviceType?.toUpperCase();
  if (type === 'NPU' || NPU_PROVIDERS.has(provider)) return 0;
  if (provider === 'cpu') return 5;
  if (type === 'CPU') return 4;
  if (provider === 'cuda') return 2;
  if (GENERIC_GPU_PROVIDERS.has(provider)) return 3;
  return 1;
}

/**
 * The order variants of one name are preferred in: cached before not cached; among those the
 * highest version; then the best device among the providers chosen automatically here
 * (`providers`: those that run on real hardware, see DeviceProbe.automatic) in Foundry's order,
 * and providers that are not chosen automatically last.
 */
export function variantOrder(providers: string[]): (a: Variant, b: Variant) => number {
  const providerRank = (v: Variant) => (providers.includes(v.provider) ? deviceRank(v.provider, v.deviceType) : 10);
  return (a, b) => Number(b.cached) - Number(a.cached) || versionOf(b.id) - versionOf(a.id) || providerRank(a) - providerRank(b);
}

/**
 * The one resolver of model names, used for the catalog, downloads, loads and chat alike: an exact
 * id; else an id without its version; else an alias; each among its variants in `variantOrder`.
 * Case-insensitive, as model ids are in the seeds.
 */
export function pickVariant<T extends Variant>(items: T[], name: string, providers: string[]): T | undefined {
  const n = name.toLowerCase();
  const exact = items.find((v) => v.id.toLowerCase() === n);
  if (exact) return exact;
  const order = variantOrder(providers);
  const unversioned = items.filter((v) => v.id.includes(':') && stripVersion(v.id).toLowerCase() === n);
  if (unversioned.length > 0) return unversioned.sort(order)[0];
  const aliased = items.filter((v) => v.alias?.toLowerCase() === n);
  // Variants not chosen automatically here (their provider cannot run, or runs only on a software
  // adapter) are picked only when nothing else answers to the alias.
  const runnable = aliased.filter((v) => providers.includes(v.provider));
  return (runnable.length > 0 ? runnable : aliased).sort(order)[0];
}
