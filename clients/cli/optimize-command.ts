import { join } from 'node:path';
import { stripVersion } from '../../protocol/validate.js';
import { optimizeModel } from '../../workers/optimize/optimize-model.js';
import type { CrucibleClient } from '../typescript/connect.js';

/**
 * `crucible model optimize <name>`: writes `<folder>-fused` beside the model in the cache, a
 * graph of ONNX Runtime's fused kernels checked against the original. It runs in the CLI's own
 * process so the agent keeps serving meanwhile; the agent finds the new folder by itself.
 */
export async function modelOptimize(c: CrucibleClient, name: string): Promise<number> {
  const models = await c.modelInfo();
  const status = await c.status();
  const lower = name.toLowerCase();
  const m = models.find((x) => x.id.toLowerCase() === lower || x.alias?.toLowerCase() === lower || x.folder.toLowerCase() === lower
    || stripVersion(x.id).toLowerCase() === lower);
  if (!m) {
    console.error(`crucible: no cached model '${name}'`);
    return 1;
  }
  const out = join(status.ModelDirPath, `${m.folder.replace(/\//g, '-')}-fused`);
  const t0 = performance.now();
  const r = await optimizeModel(m.path, out, { id: m.id, alias: m.alias });
  console.log(`Fused ${m.id}: ${r.nodesBefore} -> ${r.nodesAfter} graph nodes, logits within ${r.maxAbsDiff.toExponential(1)} of the original, in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`Wrote ${out}; use it as ${m.alias ? `${m.alias}-fused` : `${stripVersion(m.id)}-fused`}`);
  return 0;
}
