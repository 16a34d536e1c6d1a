import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CrucibleError } from '../../protocol/errors.js';

/**
 * Everything the engine needs to drive a decoder-only ONNX export with a KV cache, read from the
 * model folder's own metadata so that any Llama-family export (GQA, other vocabularies) loads.
 */
export interface ModelSpec {
  dir: string;
  layout: 'hf' | 'genai';
  onnxPath: string;
  /** Every `.onnx` file the folder offers, best first for the CPU; onnxPath is the first. */
  variants: Variant[];
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  contextLength: number;
  eosTokenIds: number[];
  bosTokenId: number | null;
  names: {
    inputIds: string;
    attentionMask: string;
    positionIds: string;
    logits: string;
    pastKey: string;
    pastValue: string;
    presentKey: string;
    presentValue: string;
    /** A `hidden_states` output the graph already has (model-builder `include_hidden_states`, Foundry's embedding exports). */
    hiddenStates?: string;
  };
}

/** One `.onnx` file of a model folder: `model_q4.onnx` is variant `q4`, `model.onnx` is `fp32`. */
export interface Variant {
  name: string;
  path: string;
}

type Json = Record<string, any>;

export const variantName = (file: string): string => {
  const stem = file.replace(/^.*[\\/]/, '').replace(/\.onnx$/, '');
  return stem === 'model' ? 'fp32' : stem.replace(/^model_/, '');
};

/**
 * How good each known variant is on each kind of device, best first: full precision where the
 * provider has fast kernels for it, then the quantized forms. CPUs have no fast float16 kernels,
 * so float16 variants come last there; GPUs prefer them.
 */
const ORDER: Record<'cpu' | 'gpu', string[]> = {
  cpu: ['fp32', 'quantized', 'int8', 'uint8', 'q8', 'q4', 'int4', 'bnb4', 'q4f16', 'fp16'],
  gpu: ['fp16', 'q4f16', 'fp32', 'q4', 'int4', 'quantized', 'int8', 'uint8', 'q8', 'bnb4'],
};

/** The folder's variants ordered best first for a device kind. */
export function rankVariants(variants: Variant[], device: 'cpu' | 'gpu'): Variant[] {
  const rank = (v: Variant) => { const i = ORDER[device].indexOf(v.name); return i < 0 ? ORDER[device].length : i; };
  return [...variants].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
}

/** Picks a variant by name (`q4`) or file name (`model_q4.onnx`); an unknown one is an error listing the choices. */
export function pickVariant(variants: Variant[], wanted: string): Variant {
  const w = wanted.toLowerCase();
  const found = variants.find((v) => v.name.toLowerCase() === w || v.path.toLowerCase().endsWith(`/${w}`) || v.path.toLowerCase().endsWith(`/${w}.onnx`));
  if (!found) {
    throw new CrucibleError('invalid_request', `no variant '${wanted}' in this model; it has ${variants.map((v) => v.name).join(', ')}`, 'variant');
  }
  return found;
}

function readJson(path: string): Json {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new CrucibleError('model_load_failed', `cannot read ${path}: ${(err as Error).message}`);
  }
}

const asIds = (v: unknown): number[] =>
  (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]).filter((x): x is number => Number.isInteger(x));

function need(value: unknown, what: string, file: string): number {
  if (!Number.isInteger(value) || (value as number) <= 0) {
    throw new CrucibleError('model_load_failed', `${file} does not give ${what}`);
  }
  return value as number;
}

/** Expands an ONNX Runtime GenAI name template such as `past_key_values.%d.key`. */
export const layerName = (template: string, layer: number): string => template.replace('%d', String(layer));

function fromGenai(dir: string): ModelSpec {
  const file = join(dir, 'genai_config.json');
  const m = readJson(file).model ?? {};
  const d = m.decoder ?? {};
  const inputs = d.inputs ?? {};
  const outputs = d.outputs ?? {};
  const heads = need(d.num_attention_heads, 'decoder.num_attention_heads', file);
  const onnxPath = join(dir, typeof d.filename === 'string' ? d.filename : 'model.onnx');
  return {
    dir,
    layout: 'genai',
    onnxPath,
    variants: [{ name: 'default', path: onnxPath }],
    numLayers: need(d.num_hidden_layers, 'decoder.num_hidden_layers', file),
    numKvHeads: need(d.num_key_value_heads ?? heads, 'decoder.num_key_value_heads', file),
    headDim: need(d.head_size ?? (d.hidden_size ? d.hidden_size / heads : undefined), 'decoder.head_size', file),
    vocabSize: need(m.vocab_size, 'model.vocab_size', file),
    contextLength: need(m.context_length, 'model.context_length', file),
    eosTokenIds: asIds(m.eos_token_id),
    bosTokenId: Number.isInteger(m.bos_token_id) ? m.bos_token_id : null,
    names: {
      inputIds: inputs.input_ids ?? 'input_ids',
      attentionMask: inputs.attention_mask ?? 'attention_mask',
      positionIds: inputs.position_ids ?? 'position_ids',
      logits: outputs.logits ?? 'logits',
      pastKey: inputs.past_key_names ?? 'past_key_values.%d.key',
      pastValue: inputs.past_value_names ?? 'past_key_values.%d.value',
      presentKey: outputs.present_key_names ?? 'present.%d.key',
      presentValue: outputs.present_value_names ?? 'present.%d.value',
      ...(typeof outputs.hidden_states === 'string' ? { hiddenStates: outputs.hidden_states } : {}),
    },
  };
}

/** The optimum / onnx-community layout: config.json plus onnx/model*.onnx. */
function fromHf(dir: string): ModelSpec {
  const file = join(dir, 'config.json');
  const c = readJson(file);
  const gen = existsSync(join(dir, 'generation_config.json')) ? readJson(join(dir, 'generation_config.json')) : {};
  const heads = need(c.num_attention_heads, 'num_attention_heads', file);
  const onnxDir = join(dir, 'onnx');
  const files = [onnxDir, dir].flatMap((d) => (existsSync(d) ? readdirSync(d).filter((f) => f.endsWith('.onnx')).map((f) => join(d, f)) : []));
  // onnx/ wins over the folder root when both hold models.
  const inOnnx = files.filter((f) => f.startsWith(onnxDir + '/') || f.startsWith(onnxDir + '\\'));
  const variants = rankVariants((inOnnx.length > 0 ? inOnnx : files).map((path) => ({ name: variantName(path), path })), 'cpu');
  const onnxPath = variants[0]?.path ?? join(onnxDir, 'model.onnx');
  const eos = asIds(gen.eos_token_id ?? c.eos_token_id);
  return {
    dir,
    layout: 'hf',
    onnxPath,
    variants: variants.length > 0 ? variants : [{ name: 'fp32', path: onnxPath }],
    numLayers: need(c.num_hidden_layers, 'num_hidden_layers', file),
    numKvHeads: need(c.num_key_value_heads ?? heads, 'num_key_value_heads', file),
    headDim: need(c.head_dim ?? (c.hidden_size ? c.hidden_size / heads : undefined), 'head_dim', file),
    vocabSize: need(c.vocab_size, 'vocab_size', file),
    contextLength: need(c.max_position_embeddings ?? gen.max_length, 'max_position_embeddings', file),
    eosTokenIds: eos,
    bosTokenId: Number.isInteger(gen.bos_token_id ?? c.bos_token_id) ? (gen.bos_token_id ?? c.bos_token_id) : null,
    names: {
      inputIds: 'input_ids',
      attentionMask: 'attention_mask',
      positionIds: 'position_ids',
      logits: 'logits',
      pastKey: 'past_key_values.%d.key',
      pastValue: 'past_key_values.%d.value',
      presentKey: 'present.%d.key',
      presentValue: 'present.%d.value',
    },
  };
}

/** Which layout a folder holds, or null when it is not a generative model folder. */
export function detectLayout(dir: string): 'hf' | 'genai' | null {
  if (existsSync(join(dir, 'genai_config.json'))) return 'genai';
  if (existsSync(join(dir, 'config.json')) && existsSync(join(dir, 'tokenizer.json'))) return 'hf';
  return null;
}

export function readModelSpec(dir: string, prefer?: 'hf' | 'genai'): ModelSpec {
  const layout = prefer ?? detectLayout(dir);
  if (layout === null) {
    throw new CrucibleError('model_load_failed', `${dir} holds neither genai_config.json nor config.json with tokenizer.json`);
  }
  const spec = layout === 'genai' ? fromGenai(dir) : fromHf(dir);
  if (!existsSync(spec.onnxPath)) throw new CrucibleError('model_load_failed', `model file ${spec.onnxPath} is missing`);
  if (spec.eosTokenIds.length === 0) throw new CrucibleError('model_load_failed', `${dir} declares no end-of-text token id`);
  return spec;
}
