import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelInfo } from '../../protocol/models.js';
import { stripVersion } from '../../protocol/validate.js';
import { optimizeModel } from '../../workers/optimize/optimize-model.js';
import { quantizeModel } from '../../workers/optimize/quantize-model.js';
import type { AgentClient } from '../typescript/connect.js';

export interface Int4Flags {
  blockSize?: number;
  accuracyLevel?: 0 | 1 | 2 | 3 | 4;
  minAgreement?: number;
}

const find = (models: ModelInfo[], name: string) => {
  const lower = name.toLowerCase();
  return models.find((x) => x.id.toLowerCase() === lower || x.alias?.toLowerCase() === lower || x.folder.toLowerCase() === lower
    || stripVersion(x.id).toLowerCase() === lower);
};

const fusedFrom = (dir: string): string | undefined => {
  try {
    return JSON.parse(readFileSync(join(dir, 'crucible.json'), 'utf8')).fusedFrom;
  } catch {
    return undefined;
  }
};

/**
 * `crucible model optimize <name> --int4`: writes `<folder>-int4` beside the model, after
 * printing how often its greedy tokens agree with the original's. A fused export is quantized
 * from the plain export it was fused from.
 */
async function modelQuantize(c: AgentClient, m: ModelInfo, models: ModelInfo[], flags: Int4Flags): Promise<number> {
  const status = await c.status();
  const origin = fusedFrom(m.path);
  const source = origin ? find(models, origin) : m;
  if (!source) {
    console.error(`crucible: ${m.id} was fused from ${origin}, which is no longer in the cache; quantize that export instead`);
    return 1;
  }
  const out = join(status.ModelDirPath, `${source.folder.replace(/\//g, '-')}-int4`);
  const t0 = performance.now();
  const r = await quantizeModel(source.path, out, { id: source.id, alias: source.alias }, flags);
  const pct = (r.agreement * 100).toFixed(1);
  console.log(`Quantized ${source.id} to int4 (block ${flags.blockSize ?? 32}, accuracy level ${flags.accuracyLevel ?? 4}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`Greedy-token agreement with the original: ${pct}% of ${r.positions} positions; largest logit difference ${r.maxLogitDiff.toFixed(3)}; identical for the first ${r.identicalPrefix.join(', ')} tokens of each prompt`);
  console.log(`Weights: ${(r.bytesBefore / 1e6).toFixed(1)} MB -> ${(r.bytesAfter / 1e6).toFixed(1)} MB`);
  console.log(`Wrote ${out}; use it as ${source.alias ? `${source.alias}-int4` : r.id}`);
  return 0;
}

/**
 * `crucible model optimize <name>`: writes `<folder>-fused` beside the model in the cache, a
 * graph of ONNX Runtime's fused kernels checked against the original. It runs in the CLI's own
 * process so the agent keeps serving meanwhile; the agent finds the new folder by itself.
 */
export async function modelOptimize(c: AgentClient, name: string, int4?: Int4Flags): Promise<number> {
  const models = await c.modelInfo();
  const m = find(models, name);
  if (!m) {
    console.error(`crucible: no cached model '${name}'`);
    return 1;
  }
  if (int4) return modelQuantize(c, m, models, int4);
  const status = await c.status();
  const out = join(status.ModelDirPath, `${m.folder.replace(/\//g, '-')}-fused`);
  const t0 = performance.now();
  const r = await optimizeModel(m.path, out, { id: m.id, alias: m.alias });
  console.log(`Fused ${m.id}: ${r.nodesBefore} -> ${r.nodesAfter} graph nodes, logits within ${r.maxAbsDiff.toExponential(1)} of the original, in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`Wrote ${out}; use it as ${m.alias ? `${m.alias}-fused` : `${stripVersion(m.id)}-fused`}`);
  return 0;
}
