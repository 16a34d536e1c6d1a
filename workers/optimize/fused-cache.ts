import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readModelSpec } from '../engine/model-spec.js';
import { optimizeModel } from './optimize-model.js';

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
