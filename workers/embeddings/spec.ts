import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CrucibleError } from '../../protocol/errors.js';

/** How token vectors become one sentence vector. */
export type EncoderPooling = 'mean' | 'cls' | 'last';

/** A sentence-transformers / Hugging Face encoder export, as its folder describes it. */
export interface EncoderSpec {
  kind: 'encoder';
  dir: string;
  onnxPath: string;
  /** From crucible.json, else 1_Pooling/config.json, else mean (transformers' default). */
  pooling: EncoderPooling;
  /** Whether the pooling came from crucible.json (then `last_hidden_state` is pooled even when the graph pools itself). */
  poolingOverridden: boolean;
  /** modules.json lists a Normalize module. */
  normalize: boolean;
  /** Most tokens one input may have, special tokens included. */
  maxTokens: number;
  vocabSize: number;
}

/** Foundry's embedding export: an ONNX Runtime GenAI decoder whose graph outputs `hidden_states`. */
export interface GenaiEmbeddingSpec {
  kind: 'genai-decoder';
  dir: string;
}

export type EmbeddingSpec = EncoderSpec | GenaiEmbeddingSpec;

type Json = Record<string, any>;

/** Encoder families whose Hugging Face exports are feature extractors, not generators. */
const ENCODER_TYPES = new Set(['bert', 'roberta', 'xlm-roberta', 'distilbert', 'mpnet', 'albert', 'electra', 'deberta', 'deberta-v2',
  'camembert', 'nomic_bert', 'modernbert', 'jina_bert', 'xlm', 'ernie', 'mobilebert', 'esm']);

function json(path: string): Json | null {
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Json;
  } catch (err) {
    throw new CrucibleError('model_load_failed', `cannot read ${path}: ${(err as Error).message}`);
  }
}

const quiet = (path: string): Json | null => { try { return json(path); } catch { return null; } };

function onnxFile(dir: string): string | null {
  for (const f of ['onnx/model.onnx', 'model.onnx']) if (existsSync(join(dir, f))) return join(dir, f);
  return null;
}

/**
 * Whether a folder holds an embedding model, by configuration alone: a sentence-transformers
 * layout (`modules.json` or `1_Pooling/config.json`) or an encoder architecture in config.json,
 * with an ONNX graph and a tokenizer; or a GenAI decoder whose genai_config.json names a
 * `hidden_states` output and no logits.
 */
export function detectEmbeddingModel(dir: string): 'encoder' | 'genai-decoder' | null {
  const genai = quiet(join(dir, 'genai_config.json'));
  if (genai) {
    const outputs = genai.model?.decoder?.outputs ?? {};
    return typeof outputs.hidden_states === 'string' && outputs.logits === undefined ? 'genai-decoder' : null;
  }
  if (!existsSync(join(dir, 'tokenizer.json')) || onnxFile(dir) === null) return null;
  const config = quiet(join(dir, 'config.json'));
  if (!config) return null;
  if (existsSync(join(dir, 'modules.json')) || existsSync(join(dir, '1_Pooling', 'config.json'))) return 'encoder';
  const type = typeof config.model_type === 'string' ? config.model_type.toLowerCase() : '';
  const archs: string[] = Array.isArray(config.architectures) ? config.architectures : [];
  if (ENCODER_TYPES.has(type) && !archs.some((a) => /For(CausalLM|MaskedLM|SequenceClassification|TokenClassification|QuestionAnswering)$/.test(a))) return 'encoder';
  return null;
}

/** `1_Pooling/config.json`'s `pooling_mode_*` flags as one pooling; combinations and max pooling are refused. */
function poolingFromConfig(dir: string, modules: Json[] | null): EncoderPooling | null {
  const path = modules?.find((m) => String(m.type ?? '').endsWith('.Pooling'))?.path ?? '1_Pooling';
  const c = json(join(dir, path, 'config.json'));
  if (!c) return null;
  if (typeof c.pooling_mode === 'string') c[`pooling_mode_${c.pooling_mode === 'lasttoken' ? 'lasttoken' : c.pooling_mode === 'cls' ? 'cls_token' : `${c.pooling_mode}_tokens`}`] = true;
  const on = Object.keys(c).filter((k) => k.startsWith('pooling_mode_') && c[k] === true);
  const known: Record<string, EncoderPooling> = { pooling_mode_mean_tokens: 'mean', pooling_mode_cls_token: 'cls', pooling_mode_lasttoken: 'last' };
  if (on.length !== 1 || !known[on[0]]) {
    throw new CrucibleError('model_load_failed', `${join(dir, path, 'config.json')} asks for ${on.join(' + ') || 'no pooling'}; Crucible pools by mean, CLS token or last token (set "pooling" in crucible.json to choose one)`);
  }
  return known[on[0]];
}

/** Reads an encoder folder; `override` is crucible.json's `pooling`. */
export function readEncoderSpec(dir: string, override?: EncoderPooling): EncoderSpec {
  const onnxPath = onnxFile(dir);
  if (!onnxPath) throw new CrucibleError('model_load_failed', `${dir} has no onnx/model.onnx`);
  const config = json(join(dir, 'config.json')) ?? {};
  const modules = json(join(dir, 'modules.json')) as Json[] | null;
  const dense = modules?.find((m) => /\.(Dense|LayerNorm|WeightedLayerPooling|CNN|LSTM)$/.test(String(m.type ?? '')));
  if (dense) throw new CrucibleError('model_load_failed', `${dir}'s modules.json lists ${dense.type} after the transformer, which the ONNX graph does not contain; Crucible would give other vectors than the model's`);
  // crucible.json's choice stands even over a pooling config this reader refuses.
  const fromConfig = override ? null : poolingFromConfig(dir, modules);
  const st = json(join(dir, 'sentence_bert_config.json'));
  const tok = json(join(dir, 'tokenizer_config.json'));
  const limits = [st?.max_seq_length, tok?.model_max_length, config.max_position_embeddings].filter((v): v is number => Number.isInteger(v) && v > 0 && v < 1e7);
  if (limits.length === 0) throw new CrucibleError('model_load_failed', `${dir} gives no sequence limit (sentence_bert_config.json max_seq_length or config.json max_position_embeddings)`);
  return {
    kind: 'encoder', dir, onnxPath,
    pooling: override ?? fromConfig ?? 'mean',
    poolingOverridden: override !== undefined,
    normalize: modules?.some((m) => String(m.type ?? '').endsWith('.Normalize')) ?? false,
    maxTokens: Number.isInteger(config.max_position_embeddings) ? Math.min(limits[0], config.max_position_embeddings) : limits[0],
    vocabSize: Number.isInteger(config.vocab_size) ? config.vocab_size : Number.POSITIVE_INFINITY,
  };
}
