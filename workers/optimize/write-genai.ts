import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { readModelSpec } from '../engine/model-spec.js';
import { type BuilderOptions, buildGenaiGraph } from './genai-builder.js';
import { readLlamaWeights } from './llama-weights.js';

const CARRIED = ['tokenizer.json', 'tokenizer_config.json', 'config.json', 'generation_config.json', 'special_tokens_map.json', 'inference_model.json', 'LICENSE.md'];

export interface WriteOptions extends BuilderOptions {
  /** Weights in `model.onnx.data` beside the graph instead of inside it. */
  externalData?: boolean;
  /** crucible.json of the new folder. */
  manifest: Record<string, unknown> & { id: string };
}

/**
 * Writes a model folder the way ONNX Runtime GenAI's model builder lays one out (onnx/model.onnx,
 * genai_config.json naming its inputs, no position_ids), rewritten from a plain Llama export.
 * Written into a temporary folder and renamed, so a failure leaves nothing behind.
 */
export function writeGenaiModel(srcDir: string, outDir: string, opts: WriteOptions): { dir: string; headSize: number } {
  const spec = readModelSpec(srcDir);
  const weights = readLlamaWeights(spec, 'rewrite');
  const g = buildGenaiGraph(spec, weights, opts);
  const tmp = `${outDir}.partial-${process.pid}-${threadId}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, 'onnx'), { recursive: true });
  try {
    if (opts.externalData) {
      const { graph, data } = g.builder.encodeExternal(g.inputs, g.outputs, 'model.onnx.data', 'crucible-genai');
      writeFileSync(join(tmp, 'onnx', 'model.onnx'), graph);
      writeFileSync(join(tmp, 'onnx', 'model.onnx.data'), data);
    } else {
      writeFileSync(join(tmp, 'onnx', 'model.onnx'), g.builder.encode(g.inputs, g.outputs, 'crucible-genai'));
    }
    for (const f of CARRIED) if (existsSync(join(srcDir, f))) copyFileSync(join(srcDir, f), join(tmp, f));
    const base = existsSync(join(srcDir, 'genai_config.json')) ? JSON.parse(readFileSync(join(srcDir, 'genai_config.json'), 'utf8')) : {};
    const n = spec.names;
    const config = {
      ...base,
      model: {
        ...(base.model ?? {}),
        bos_token_id: spec.bosTokenId ?? base.model?.bos_token_id,
        eos_token_id: spec.eosTokenIds,
        context_length: spec.contextLength,
        vocab_size: spec.vocabSize,
        type: base.model?.type ?? 'llama',
        decoder: {
          ...(base.model?.decoder ?? {}),
          filename: 'onnx/model.onnx',
          head_size: g.headSize,
          hidden_size: weights.hidden,
          num_attention_heads: g.heads,
          num_key_value_heads: g.kvHeads,
          num_hidden_layers: spec.numLayers,
          inputs: { input_ids: n.inputIds, attention_mask: n.attentionMask, past_key_names: n.pastKey, past_value_names: n.pastValue },
          outputs: { ...(opts.excludeLmHead ? { hidden_states: 'hidden_states' } : { logits: n.logits }), present_key_names: n.presentKey, present_value_names: n.presentValue },
        },
      },
      // The builder shares one static KV buffer in GenAI; Crucible batches with its own caches and ignores it.
      search: { ...(base.search ?? {}), max_length: spec.contextLength, past_present_share_buffer: true },
    };
    writeFileSync(join(tmp, 'genai_config.json'), JSON.stringify(config, null, 2));
    writeFileSync(join(tmp, 'crucible.json'), JSON.stringify(opts.manifest, null, 2));
    rmSync(outDir, { recursive: true, force: true });
    renameSync(tmp, outDir);
    return { dir: outDir, headSize: g.headSize };
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}
