import { stripVersion, versionOf } from '../protocol/validate.js';

/** What the resolver needs to know of a model variant, cached or only in the catalog. */
export interface Variant {
  id: string;
  alias: string | null;
  /** onnxruntime-node's name of the variant's execution provider (`cpu`, `cuda`, `webgpu`...). */
  provider: string;
  cached: boolean;
}

/** Maps a catalog runtime's provider name (`CUDAExecutionProvider`) to onnxruntime-node's (`cuda`). */
export function providerName(executionProvider: string): string {
  const ep = executionProvider.toLowerCase().replace(/executionprovider$/, '');
  return ep === 'dml' || ep === 'directml' ? 'dml' : ep;
}

/**
 * The order variants of one name are preferred in: cached before not cached; among those the
 * highest version; then the best provider that runs here (a GPU provider, in the order the
 * machine lists them, before the CPU), and providers that cannot run here last.
 */
export function variantOrder(providers: string[]): (a: Variant, b: Variant) => number {
  const providerRank = (v: Variant) => {
    const i = providers.indexOf(v.provider);
    if (i === -1) return providers.length + 1;
    return v.provider === 'cpu' ? providers.length : i;
  };
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
  // Variants this machine cannot run are chosen only when nothing else answers to the alias.
  const runnable = aliased.filter((v) => providers.includes(v.provider));
  return (runnable.length > 0 ? runnable : aliased).sort(order)[0];
}
