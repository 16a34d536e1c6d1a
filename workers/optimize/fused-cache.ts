import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readModelSpec } from '../engine/model-spec.js';
import { optimizeModel } from './optimize-model.js';

const AUTO_LIMIT_BYTES = 512 * 2 ** 20;

/**
 * The automatic, cached form of `crucible model optimize`: the first load of a plain export
 * fuses it into `fusedDir`; later loads reuse that until the source model file changes. A model
 * that cannot be fused is remembered (`<fusedDir>.unfusable`, with the reason) and loads as it is.
 * Returns the folder to load.
 */
export async function fusedOrOriginal(modelDir: string, fusedDir: string, threads: number): Promise<{ dir: string; fused: boolean; note?: string }> {
  if (isFused(modelDir)) return { dir: modelDir, fused: true };
  const source = readModelSpec(modelDir).onnxPath;
  const sourceTime = statSync(source).mtimeMs;
  const fusedModel = join(fusedDir, 'onnx', 'model.onnx');
  const refused = `${fusedDir}.unfusable`;
  if (existsSync(fusedModel) && statSync(fusedModel).mtimeMs >= sourceTime) return { dir: fusedDir, fused: true };
  if (existsSync(refused) && statSync(refused).mtimeMs >= sourceTime) {
    return { dir: modelDir, fused: false, note: readFileSync(refused, 'utf8') };
  }
  // Fusing parses the whole graph in memory and checks it against the original with both loaded:
  // fine for small models, too heavy to do unasked for big ones.
  if (statSync(source).size > AUTO_LIMIT_BYTES) {
    return { dir: modelDir, fused: false, note: `larger than ${AUTO_LIMIT_BYTES / 2 ** 20} MiB: run 'crucible model optimize' to fuse it` };
  }
  try {
    mkdirSync(dirname(fusedDir), { recursive: true });
    await optimizeModel(modelDir, fusedDir, { id: 'auto' }, threads);
    return { dir: fusedDir, fused: true };
  } catch (err) {
    const note = (err as Error).message;
    writeFileSync(refused, note);
    return { dir: modelDir, fused: false, note };
  }
}

/** A folder `crucible model optimize` wrote is already fused. */
function isFused(dir: string): boolean {
  try {
    return Boolean(JSON.parse(readFileSync(join(dir, 'crucible.json'), 'utf8')).fusedFrom);
  } catch {
    return false;
  }
}
