import { join } from 'node:path';
import { optimizeModel } from '../../workers/optimize/optimize-model.js';
import { type WriteOptions, writeGenaiModel } from '../../workers/optimize/write-genai.js';
import { STORIES } from './service.js';

type Int4 = NonNullable<WriteOptions['int4']>;
const int4 = (blockSize: number, accuracyLevel: 0 | 4, zeroPoints: boolean, lmHead = false): Int4 => ({ blockSize, accuracyLevel, zeroPoints, lmHead });

/**
 * The graph kinds users download, written by the repo itself from stories260k's real weights the
 * way ONNX Runtime GenAI's model builder writes them (see workers/optimize/write-genai.ts).
 */
export const BUILDER_KINDS: Record<string, Omit<WriteOptions, 'manifest'>> = {
  'gqa-float': { int4: null, ioType: 'float32' },
  'int4-b32-acc0': { int4: int4(32, 0, false), ioType: 'float32' },
  'int4-b128-acc0-zp': { int4: int4(128, 0, true, true), ioType: 'float32' },
  'int4-b32-acc4-zp': { int4: int4(32, 4, true), ioType: 'float32' },
  'int4-b128-acc4': { int4: int4(128, 4, false, true), ioType: 'float32' },
  'fp16': { int4: null, ioType: 'float16' },
  // accuracy level 0: with level 4 on float16 graphs ONNX Runtime's int8-activation kernels round
  // differently with the number of rows, so a greedy tie can break another way in a batch (README).
  'q4f16': { int4: int4(32, 0, false, true), ioType: 'float16' },
  'external-data': { int4: int4(32, 0, false), ioType: 'float32', externalData: true },
};

/** Writes every builder kind, plus the fused graph, under `root`; returns kind -> folder. */
export async function writeBuilderModels(root: string, kinds = Object.keys(BUILDER_KINDS)): Promise<Record<string, string>> {
  const dirs: Record<string, string> = { plain: STORIES };
  for (const kind of kinds) {
    dirs[kind] = writeGenaiModel(STORIES, join(root, kind), { ...BUILDER_KINDS[kind], manifest: { id: `stories260k-${kind}:1` } }).dir;
  }
  dirs.fused = (await optimizeModel(STORIES, join(root, 'fused'), { id: 'stories260k-fused:1' })).dir;
  return dirs;
}

/** The float graph of an int4 kind's dequantized weights: what accuracy level 0 must match exactly. */
export function writeDequantizedReference(root: string, kind: string): string {
  return writeGenaiModel(STORIES, join(root, `${kind}-reference`), { ...BUILDER_KINDS[kind], dequantizedReference: true, manifest: { id: `${kind}-reference` } }).dir;
}
