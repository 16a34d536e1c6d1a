import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { stripVersion } from '../../protocol/validate.js';
import { readModelSpec } from '../engine/model-spec.js';
import { fuseLlama } from './fuse-llama.js';
import { verifyFused } from './verify.js';

export interface OptimizeResult {
  dir: string;
  nodesBefore: number;
  nodesAfter: number;
  maxAbsDiff: number;
}

const CARRIED = ['tokenizer.json', 'tokenizer_config.json', 'config.json', 'generation_config.json', 'special_tokens_map.json', 'inference_model.json'];

/**
 * Writes a fused copy of a model folder to `outDir` (ONNX Runtime GenAI layout, so the engine
 * loads it like any other), after checking it against the original. Nothing is left behind
 * when the check fails.
 */
export async function optimizeModel(dir: string, outDir: string, manifest: { id: string; alias?: string | null }, threads = 1): Promise<OptimizeResult> {
  const spec = readModelSpec(dir);
  const fused = fuseLlama(spec);
  // Unique per thread: two workers fusing the same model must not write into each other.
  const tmp = `${outDir}.partial-${process.pid}-${threadId}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, 'onnx'), { recursive: true });
  try {
    writeFileSync(join(tmp, 'onnx', 'model.onnx'), fused.bytes);
    const { maxAbsDiff } = await verifyFused(spec, join(tmp, 'onnx', 'model.onnx'), fused.kvHeads, threads);
    for (const f of CARRIED) if (existsSync(join(dir, f))) copyFileSync(join(dir, f), join(tmp, f));
    const base = existsSync(join(dir, 'genai_config.json')) ? JSON.parse(readFileSync(join(dir, 'genai_config.json'), 'utf8')) : { model: { decoder: {} } };
    const n = spec.names;
    base.model = {
      ...base.model,
      bos_token_id: spec.bosTokenId ?? base.model.bos_token_id,
      eos_token_id: spec.eosTokenIds,
      context_length: spec.contextLength,
      vocab_size: spec.vocabSize,
      type: base.model.type ?? 'llama',
      decoder: {
        ...base.model.decoder,
        filename: 'onnx/model.onnx',
        head_size: spec.headDim,
        num_attention_heads: fused.kvHeads,
        num_key_value_heads: fused.kvHeads,
        num_hidden_layers: spec.numLayers,
        inputs: { input_ids: n.inputIds, attention_mask: n.attentionMask, position_ids: n.positionIds, past_key_names: n.pastKey, past_value_names: n.pastValue },
        outputs: { logits: n.logits, present_key_names: n.presentKey, present_value_names: n.presentValue },
      },
    };
    writeFileSync(join(tmp, 'genai_config.json'), JSON.stringify(base, null, 2));
    const stem = stripVersion(manifest.id);
    const version = manifest.id.slice(stem.length);
    writeFileSync(join(tmp, 'crucible.json'), JSON.stringify({
      id: `${stem}-fused${version}`,
      alias: manifest.alias ? `${manifest.alias}-fused` : undefined,
      fusedFrom: manifest.id,
      nodes: { before: fused.nodeCountBefore, after: fused.nodeCountAfter },
    }, null, 2));
    rmSync(outDir, { recursive: true, force: true });
    renameSync(tmp, outDir);
    return { dir: outDir, nodesBefore: fused.nodeCountBefore, nodesAfter: fused.nodeCountAfter, maxAbsDiff };
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}
